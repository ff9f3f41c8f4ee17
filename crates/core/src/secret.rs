//! Masking secrets (keys, passwords, credentials) in what the process prints about its
//! configuration (`-print.config`, `GET /config`, error messages), as Cortex does: a set secret
//! shows as `********`, an unset one stays empty, so an operator still sees whether it is set.

/// What a set secret is printed as.
pub const MASK: &str = "********";

/// `value` as it may be printed: [`MASK`] when set, empty when not.
pub fn mask(value: &str) -> String {
    if value.is_empty() {
        String::new()
    } else {
        MASK.to_string()
    }
}

/// `url` with the password of its user part (`scheme://user:password@host/…`) replaced by
/// [`MASK`]; the user name, host and path stay readable. Text that is no URL, or has no
/// password, comes back unchanged.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let (user_info, host) = authority.split_at(at);
    match user_info.split_once(':') {
        Some((user, password)) if !password.is_empty() => format!("{scheme}://{user}:{MASK}{host}{path}"),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_secrets_are_masked_unset_stay_empty() {
        assert_eq!(mask("hunter2"), MASK);
        assert_eq!(mask(""), "");
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_password("s3://AKID:se%2Fcret@us-east-1/bucket"),
            format!("s3://AKID:{MASK}@us-east-1/bucket")
        );
        assert_eq!(
            mask_url_password("http://key:p@ss@127.0.0.1:5000"),
            format!("http://key:{MASK}@127.0.0.1:5000")
        );
        for unchanged in ["dynamodb://us-east-1", "http://user@host/b", "http://user:@host", "not a url", ""]
        {
            assert_eq!(mask_url_password(unchanged), unchanged);
        }
        // An `@` in the path is not a user part.
        assert_eq!(mask_url_password("s3://region/b@x:y"), "s3://region/b@x:y");
    }
}
