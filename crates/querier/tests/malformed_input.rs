//! Arbitrary input never panics the parsers that read request parameters.

use neocortex_querier::{parse_duration, parse_selector, parse_time, range_query_params, FormParams};
use proptest::prelude::*;

/// Strings biased towards the characters the parsers care about.
fn selector_like() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("\"".to_string()),
            Just("'".to_string()),
            Just("`".to_string()),
            Just("\\".to_string()),
            Just("=~".to_string()),
            Just("!".to_string()),
            Just(",".to_string()),
            Just("up".to_string()),
            Just("job".to_string()),
            Just("\\x4".to_string()),
            Just("\\u12".to_string()),
            Just("é".to_string()),
            Just("(".to_string()),
            Just("5m".to_string()),
            Just("#".to_string()),
            Just("\n".to_string()),
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn selectors_never_panic(input in selector_like()) {
        let _ = parse_selector(&input);
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let _ = parse_selector(&input);
        let _ = parse_time(&input);
        let _ = parse_duration(&input);
        let params = FormParams::parse(&input);
        let _ = range_query_params(&params);
    }

    #[test]
    fn time_like_strings_never_panic(input in "[-+0-9.eE:TZ,_]{0,40}") {
        let _ = parse_time(&input);
        let _ = parse_duration(&input);
    }

    #[test]
    fn float_times_round_to_milliseconds(seconds in -1.0e12f64..1.0e12) {
        let millis = parse_time(&seconds.to_string()).expect("floats parse");
        prop_assert!((millis as f64 - seconds * 1000.0).abs() <= 1.0);
    }
}
