//! The value column. Exporters mostly expose integers or numbers with a few decimal places, so
//! values are first tried as decimals: every value becomes an integer mantissa `m` with one
//! shared number of decimal places `k` (value = m / 10^k, checked bit for bit), and the
//! mantissas are stored as deltas (gauges) or deltas of deltas (steady counters), divided by
//! their greatest common divisor (memory in pages, disk bytes in sectors), in an integer column.
//! Values that are not such decimals (NaN and staleness markers, ±Inf, -0.0, full-precision
//! doubles) are kept as exceptions with their exact bits. When exceptions are too many, or the
//! result is larger, the column falls back to Gorilla XOR of the raw bits. A column whose values
//! all have the same bits is one word.

use crate::object_format::bits::{BitReader, BitWriter};
use neocortex_core::Sample;

use crate::object_format::ints::{
    compressed_len, put_column, put_uvarint, put_varint, read_column_with, Reader,
};

const MODE_CONSTANT: u8 = 0;
const MODE_DECIMAL: u8 = 1;
const MODE_XOR: u8 = 2;

/// Most decimal places tried.
const MAX_DECIMALS: usize = 18;
/// Largest mantissa magnitude: beyond 2^53 an integer is not exact as an f64.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Powers of ten, each exact as an f64.
const POW10: [f64; MAX_DECIMALS + 1] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

/// The mantissa of `value` with `decimals` places, if dividing it back gives the same bits.
fn mantissa(value: f64, decimals: usize) -> Option<i64> {
    let scaled = (value * POW10[decimals]).round();
    if !scaled.is_finite() || scaled.abs() > MAX_MANTISSA {
        return None;
    }
    let m = scaled as i64;
    ((m as f64 / POW10[decimals]).to_bits() == value.to_bits()).then_some(m)
}

/// Fewest decimal places that represent `value` exactly, if any.
fn decimals_of(value: f64) -> Option<usize> {
    (0..=MAX_DECIMALS).find(|&k| mantissa(value, k).is_some())
}

/// Appends the column for `values`.
pub(crate) fn put(out: &mut Vec<u8>, values: &[f64]) {
    let Some(first) = values.first() else { return };
    if values.iter().all(|v| v.to_bits() == first.to_bits()) {
        out.push(MODE_CONSTANT);
        out.extend_from_slice(&first.to_bits().to_le_bytes());
        return;
    }
    let xor = xor_column(values);
    match decimal_column(values) {
        Some(decimal) if compressed_len(&decimal) <= compressed_len(&xor) => out.extend_from_slice(&decimal),
        _ => out.extend_from_slice(&xor),
    }
}

fn decimal_column(values: &[f64]) -> Option<Vec<u8>> {
    // Pick the places that cover all but a sixteenth of the values; the rest become exceptions.
    let mut histogram = [0usize; MAX_DECIMALS + 2];
    for value in values {
        histogram[decimals_of(*value).unwrap_or(MAX_DECIMALS + 1)] += 1;
    }
    let allowed_exceptions = values.len() / 16;
    let mut covered = 0;
    let decimals = (0..=MAX_DECIMALS).find(|&k| {
        covered += histogram[k];
        values.len() - covered <= allowed_exceptions
    })?;

    let mut mantissas = Vec::with_capacity(values.len());
    let mut exceptions = Vec::new();
    let mut previous = 0i64;
    for (index, value) in values.iter().enumerate() {
        match mantissa(*value, decimals) {
            Some(m) => previous = m,
            None => exceptions.push((index, value.to_bits())),
        }
        mantissas.push(previous);
    }
    if exceptions.len() > allowed_exceptions {
        return None;
    }

    let deltas: Vec<i64> = mantissas.windows(2).map(|w| w[1] - w[0]).collect();
    let divisor = deltas.iter().fold(0u64, |g, d| gcd(g, d.unsigned_abs())).max(1);
    let divisor_i = i64::try_from(divisor).ok()?;
    let scaled: Vec<i64> = deltas.iter().map(|d| d / divisor_i).collect();
    let second: Vec<i64> = scaled.windows(2).map(|w| w[1] - w[0]).collect();

    let mut best: Option<Vec<u8>> = None;
    for order in [1u8, 2] {
        let mut column = vec![MODE_DECIMAL, decimals as u8, order];
        put_uvarint(&mut column, divisor);
        put_varint(&mut column, mantissas[0]);
        if order == 1 {
            put_column(&mut column, &scaled);
        } else {
            put_varint(&mut column, scaled.first().copied().unwrap_or(0));
            put_column(&mut column, &second);
        }
        put_uvarint(&mut column, exceptions.len() as u64);
        let mut last = 0;
        for (index, bits) in &exceptions {
            put_uvarint(&mut column, (index - last) as u64);
            column.extend_from_slice(&bits.to_le_bytes());
            last = *index;
        }
        if best.as_ref().is_none_or(|b| compressed_len(&column) < compressed_len(b)) {
            best = Some(column);
        }
        if values.len() < 3 {
            break;
        }
    }
    best
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Gorilla XOR of the raw bits, prefixed by its byte length.
fn xor_column(values: &[f64]) -> Vec<u8> {
    let mut stream = Vec::with_capacity(values.len() * 2);
    let mut bits = BitWriter::new(&mut stream);
    let mut previous = values[0].to_bits();
    bits.write(previous, 64);
    let mut window: Option<(u32, u32)> = None;
    for value in &values[1..] {
        let current = value.to_bits();
        let xor = current ^ previous;
        previous = current;
        if xor == 0 {
            bits.bit(false);
            continue;
        }
        bits.bit(true);
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((lead, trail)) if leading >= lead && trailing >= trail => {
                bits.bit(false);
                bits.write(xor >> trail, (64 - lead - trail) as u8);
            }
            _ => {
                bits.bit(true);
                let significant = 64 - leading - trailing;
                bits.write(u64::from(leading), 5);
                bits.write(u64::from(significant - 1), 6);
                bits.write(xor >> trailing, significant as u8);
                window = Some((leading, trailing));
            }
        }
    }
    bits.finish();
    let mut out = vec![MODE_XOR];
    put_uvarint(&mut out, stream.len() as u64);
    out.extend_from_slice(&stream);
    out
}

/// Reads the values written by [`put`] into `samples` (one per sample, in order), leaving
/// their timestamps alone. On `None` some values may have been written.
pub(crate) fn read_into(reader: &mut Reader<'_>, samples: &mut [Sample]) -> Option<()> {
    if samples.is_empty() {
        return Some(());
    }
    match reader.u8()? {
        MODE_CONSTANT => {
            let value = f64::from_bits(reader.u64_le()?);
            samples.iter_mut().for_each(|sample| sample.value = value);
            Some(())
        }
        MODE_DECIMAL => read_decimal(reader, samples),
        MODE_XOR => {
            let stream_len = reader.count(reader.remaining())?;
            read_xor(reader.take(stream_len)?, samples)
        }
        _ => None,
    }
}

fn read_decimal(reader: &mut Reader<'_>, samples: &mut [Sample]) -> Option<()> {
    let decimals = usize::from(reader.u8()?);
    let order = reader.u8()?;
    if decimals > MAX_DECIMALS || !(1..=2).contains(&order) {
        return None;
    }
    let divisor = i64::try_from(reader.uvarint()?).ok()?;
    let first = reader.varint()?;
    // Integers (no decimal places) skip the division by 10^0, which changes no bits.
    if decimals == 0 {
        read_mantissas(reader, samples, order, divisor, first, |m| m as f64)?;
    } else {
        let scale = POW10[decimals];
        read_mantissas(reader, samples, order, divisor, first, |m| m as f64 / scale)?;
    }
    let exceptions = reader.count(samples.len())?;
    let mut index = 0usize;
    for _ in 0..exceptions {
        index = index.checked_add(usize::try_from(reader.uvarint()?).ok()?)?;
        samples.get_mut(index)?.value = f64::from_bits(reader.u64_le()?);
    }
    Some(())
}

/// Rebuilds the mantissas of a decimal column from its first one and the (first- or
/// second-order, `divisor`-scaled) deltas, writing `value(mantissa)` into each sample.
fn read_mantissas(
    reader: &mut Reader<'_>,
    samples: &mut [Sample],
    order: u8,
    divisor: i64,
    first: i64,
    value: impl Fn(i64) -> f64,
) -> Option<()> {
    let len = samples.len();
    samples[0].value = value(first);
    let mut rest = samples[1..].iter_mut();
    let mut m = first;
    if order == 1 {
        read_column_with(reader, len - 1, |delta| {
            m = m.wrapping_add(delta.wrapping_mul(divisor));
            if let Some(sample) = rest.next() {
                sample.value = value(m);
            }
        })?;
    } else if len > 1 {
        let mut delta = reader.varint()?;
        m = first.wrapping_add(delta.wrapping_mul(divisor));
        if let Some(sample) = rest.next() {
            sample.value = value(m);
        }
        read_column_with(reader, len.saturating_sub(2), |second| {
            delta = delta.wrapping_add(second);
            m = m.wrapping_add(delta.wrapping_mul(divisor));
            if let Some(sample) = rest.next() {
                sample.value = value(m);
            }
        })?;
    }
    Some(())
}

fn read_xor(stream: &[u8], samples: &mut [Sample]) -> Option<()> {
    /// Control bits, leading-zero count and significant-bit count of a new window.
    const NEW_WINDOW_HEADER: u32 = 2 + 5 + 6;
    let mut bits = BitReader::new(stream);
    let mut previous = bits.read(64)?;
    samples[0].value = f64::from_bits(previous);
    let mut window: Option<(u32, u32)> = None;
    for sample in &mut samples[1..] {
        bits.refill();
        let (register, available) = bits.peek();
        if available == 0 {
            return None;
        }
        if register & 1 == 1 {
            if available < 2 {
                return None;
            }
            if register & 2 == 0 {
                bits.consume(2);
            } else {
                if available < NEW_WINDOW_HEADER {
                    return None;
                }
                let leading = ((register >> 2) & 0x1f) as u32;
                let significant = ((register >> 7) & 0x3f) as u32 + 1;
                if leading + significant > 64 {
                    return None;
                }
                bits.consume(NEW_WINDOW_HEADER);
                window = Some((leading, 64 - leading - significant));
            }
            let (lead, trail) = window?;
            previous ^= bits.read((64 - lead - trail) as u8)? << trail;
        } else {
            bits.consume(1);
        }
        sample.value = f64::from_bits(previous);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

    /// Reads `len` values into fresh samples.
    fn read(reader: &mut Reader<'_>, len: usize) -> Option<Vec<f64>> {
        let mut samples = vec![Sample { timestamp_ms: 0, value: 0.0 }; len];
        read_into(reader, &mut samples)?;
        Some(samples.iter().map(|s| s.value).collect())
    }

    fn round_trip(values: &[f64]) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, values);
        let mut reader = Reader::new(&out);
        let decoded = read(&mut reader, values.len()).expect("decodes");
        let expected: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        let actual: Vec<u64> = decoded.iter().map(|v| v.to_bits()).collect();
        assert_eq!(actual, expected);
        assert_eq!(reader.remaining(), 0);
        out
    }

    #[test]
    fn special_values_survive_bit_for_bit() {
        let mut values: Vec<f64> = (0..200).map(|i| f64::from(i) * 0.25).collect();
        values[10] = f64::from_bits(STALE_NAN);
        values[20] = -0.0;
        values[30] = f64::INFINITY;
        values[40] = f64::NEG_INFINITY;
        values[50] = f64::NAN;
        let out = round_trip(&values);
        assert_eq!(out[0], MODE_DECIMAL, "a few specials stay exceptions of a decimal column");
        round_trip(&[f64::from_bits(STALE_NAN), -0.0, 0.0, f64::MIN_POSITIVE, f64::MAX]);
        round_trip(&[f64::from_bits(STALE_NAN); 3]);
    }

    #[test]
    fn decimal_counters_pack_tighter_than_xor() {
        // A CPU-seconds counter with two decimals growing by about 14.9 s per scrape.
        let values: Vec<f64> =
            (0..2_880i64).map(|i| (123_456_789 + i * 1_490 + (i * 37) % 11) as f64 / 100.0).collect();
        let out = round_trip(&values);
        assert_eq!(out[0], MODE_DECIMAL);
        assert!(compressed_len(&out) < 2_880 / 2, "{} bytes", compressed_len(&out));
        assert!(compressed_len(&out) * 4 < compressed_len(&xor_column(&values)));
    }

    #[test]
    fn memory_in_pages_divides_by_the_page_size() {
        // A random walk of up to ±32 pages per scrape around 4 GiB.
        let mut pages = 1i64 << 20;
        let values: Vec<f64> = (0..1_000i64)
            .map(|i| {
                pages += (i * 7_919) % 64 - 32;
                pages as f64 * 4096.0
            })
            .collect();
        let out = round_trip(&values);
        assert_eq!(out[0], MODE_DECIMAL);
        assert!(out.len() < 1_000, "{} bytes for 1000 six-bit steps", out.len());
    }

    #[test]
    fn full_precision_doubles_fall_back_to_xor() {
        let values: Vec<f64> = (0..500).map(|i| (f64::from(i) * 0.731).sin() / 3.0).collect();
        assert_eq!(round_trip(&values)[0], MODE_XOR);
    }

    #[test]
    fn malformed_columns_are_refused() {
        let values: Vec<f64> = (0..100).map(f64::from).collect();
        let mut out = Vec::new();
        put(&mut out, &values);
        for cut in 0..out.len() {
            assert!(read(&mut Reader::new(&out[..cut]), values.len()).is_none(), "cut at {cut}");
        }
        assert!(read(&mut Reader::new(&[9]), 1).is_none());
    }

    proptest! {
        #[test]
        fn any_bits_round_trip(bits in proptest::collection::vec(any::<u64>(), 1..300)) {
            let values: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            round_trip(&values);
        }

        #[test]
        fn decimal_walks_round_trip(
            start in -1_000_000_000i64..1_000_000_000,
            steps in proptest::collection::vec(-5_000i64..5_000, 1..600),
            decimals in 0usize..8,
            specials in proptest::collection::vec((0usize..600, prop_oneof![Just(STALE_NAN), Just(f64::NAN.to_bits()), Just((-0.0f64).to_bits()), Just(f64::INFINITY.to_bits()), Just(f64::NEG_INFINITY.to_bits())]), 0..4),
        ) {
            let mut m = start;
            let mut values: Vec<f64> = steps.iter().map(|s| { m += s; m as f64 / POW10[decimals] }).collect();
            for (index, bits) in specials {
                let len = values.len();
                values[index % len] = f64::from_bits(bits);
            }
            round_trip(&values);
        }
    }
}
