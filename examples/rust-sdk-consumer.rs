//! A consumer of vegas through the AWS SDK for Rust, as any Rust program
//! would be: `aws-config` loads profile PROFILE from the shared config, whose
//! `credential_process` runs vegas, and STS GetCallerIdentity shows who we
//! are. tests/consumers_e2e.rs runs it in a test world:
//!
//! `rust-sdk-consumer PROFILE [ENDPOINT_URL]` prints the caller's ARN.
//! PROFILE `-` leaves the profile to aws-config's default chain (for
//! tests/serve_e2e.rs: the container provider, from the environment alone).

use aws_config::{BehaviorVersion, Region};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let profile = args
        .next()
        .ok_or("usage: rust-sdk-consumer PROFILE [ENDPOINT_URL]")?;
    let endpoint = args.next();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let arn = runtime.block_on(async {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new("eu-west-1"));
        if profile != "-" {
            loader = loader.profile_name(&profile);
        }
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let identity = aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(identity.arn().unwrap_or_default().to_string())
    })?;
    println!("{arn}");
    Ok(())
}
