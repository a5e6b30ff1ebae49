//! `ssehub token`: mint an HS256 token for development and scripts, with
//! the claims `ssehub serve` reads (`auth.rs`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// Flags of `ssehub token`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A file holding the secret the hub checks tokens with (its
    /// --jwt-secret-file); one trailing newline is not part of it.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// The secret itself, instead of --secret-file (a flag's value shows in
    /// `ps`: prefer the file or the environment).
    #[arg(long, env = "SSEHUB_JWT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// A topic pattern the token may read (repeatable): `*` matches one
    /// segment, `**` any rest.
    #[arg(long, value_name = "PATTERN")]
    subscribe: Vec<String>,
    /// A topic pattern the token may publish to (repeatable).
    #[arg(long, value_name = "PATTERN")]
    publish: Vec<String>,
    /// The user the token stands for (the `sub` claim). Without any grant,
    /// the token still reads --public-topics.
    #[arg(long, value_name = "USER")]
    sub: Option<String>,
    /// Adds the `ssehub.admin` claim (`"admin": true` inside the `ssehub`
    /// object), which administration routes such as
    /// `DELETE /connections/ID` require.
    #[arg(long)]
    admin: bool,
    /// How long the token is valid: a whole number and a unit, `s`, `m`, `h`
    /// or `d` (30s, 15m, 1h, 7d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let secret = super::secret::hs256(
        args.secret.as_deref(),
        "--secret (SSEHUB_JWT_SECRET)",
        args.secret_file.as_deref(),
        "--secret-file",
    )?
    .context("no secret: give --secret-file FILE (or --secret, or SSEHUB_JWT_SECRET)")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let exp = now
        .checked_add(args.ttl.as_secs())
        .context("--ttl is too long")?;
    let mut grants = json!({ "publish": args.publish, "subscribe": args.subscribe });
    if args.admin {
        grants["admin"] = true.into();
    }
    let mut claims = json!({ "ssehub": grants, "iat": now, "exp": exp });
    if let Some(sub) = args.sub {
        claims["sub"] = sub.into();
    }
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret),
    )
    .context("signing the token")?;
    println!("{token}");
    Ok(())
}

/// `30s`, `15m`, `1h`, `7d`: a whole number, more than 0, and one unit.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let usage = "expected a whole number and a unit, s, m, h or d (30s, 15m, 1h, 7d)";
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(usage.to_owned()),
    };
    // Only ASCII digits: no number, or too many of them.
    let number: u64 = number
        .parse()
        .map_err(|_| if number.is_empty() { usage } else { "too long" }.to_owned())?;
    if number == 0 {
        return Err("a token valid for 0 seconds is expired at once".to_owned());
    }
    number
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| "too long".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_ttl;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(15 * 60)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86400)));
        for bad in [
            "", "1", "h", "1x", "1 h", " 1h", "1h ", "-1h", "1.5h", "1h30m", "1H", "0s",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_ttl("99999999999999999999d").is_err());
        assert!(parse_ttl(&format!("{}d", u64::MAX / 2)).is_err());
    }
}
