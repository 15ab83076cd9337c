//! `vegas serve` end to end (issue #14): the virtual YubiKey behind a
//! private pcscd, the strict local STS, and the AWS CLI, boto3, the Rust SDK
//! and the JS SDK v3 getting their credentials from the server through the
//! container credential provider, configured only by the variables vegas
//! printed (their HOME has no ~/.aws at all).

mod support;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use support::card::TouchResponse;
use support::consumers::{example, node, node_consumer};
use support::sts::{Action, Fault};
use support::venv::venv_bin;
use support::world::*;

const ADMIN_ARN: &str = "arn:aws:sts::222222222222:assumed-role/Admin/alice-session";
/// The server's limit on sending a request head (server.rs), plus slack.
const HEADER_TIMEOUT_AND_SLACK: Duration = Duration::from_secs(8);

/// A running `vegas serve --profile admin`, with what it printed.
struct Served {
    child: Option<Child>,
    url: String,
    /// The value of AWS_CONTAINER_AUTHORIZATION_TOKEN (or _TOKEN_FILE).
    token: String,
    stderr: Arc<Mutex<String>>,
}

impl Served {
    fn start(world: &World, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--profile", "admin"];
        args.extend_from_slice(extra);
        let mut child = world
            .vegas(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vegas serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // stdout: the two export lines, then its end (vegas closes it).
        let mut stdout = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_to_string(&mut stdout)
            .expect("read stdout");
        let mut served = Served {
            child: Some(child),
            url: String::new(),
            token: String::new(),
            stderr,
        };
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "two export lines, got {stdout:?}; stderr: {}",
            served.stderr()
        );
        for line in lines {
            let (name, value) = line
                .strip_prefix("export ")
                .and_then(|rest| rest.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {line}"));
            match name {
                "AWS_CONTAINER_CREDENTIALS_FULL_URI" => served.url = value.to_string(),
                "AWS_CONTAINER_AUTHORIZATION_TOKEN" | "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" => {
                    served.token = value.to_string()
                }
                other => panic!("unexpected variable {other}"),
            }
        }
        served
    }

    /// host:port of the server.
    fn address(&self) -> String {
        let rest = self.url.strip_prefix("http://").expect("http URL");
        rest.split('/').next().unwrap().to_string()
    }

    fn path(&self) -> String {
        let rest = self.url.strip_prefix("http://").unwrap();
        format!("/{}", rest.split_once('/').unwrap().1)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The variables for a consumer: only these two point it anywhere.
    fn variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", self.url.clone()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", self.token.clone()),
        ]
    }

    /// A GET of the credentials path with `authorization`, on a connection
    /// of its own.
    fn get(&self, authorization: Option<&str>) -> (u16, String) {
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            self.path(),
            self.address()
        );
        exchange(&self.address(), request.as_bytes())
    }

    fn credentials(&self) -> serde_json::Value {
        let (status, body) = self.get(Some(&self.token));
        assert_eq!(status, 200, "{body}\nserver stderr: {}", self.stderr());
        serde_json::from_str(&body).expect("JSON credentials")
    }

    /// Send `signal`, wait for the end; how long it took.
    fn stop(&mut self, signal: i32) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("running");
        let started = Instant::now();
        unsafe { libc::kill(child.id() as i32, signal) };
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "vegas serve did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Write `request` on a new connection and read the answer to its end:
/// (status, body); status 0 when the server closed without an answer.
fn exchange(address: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    parse_answer(&String::from_utf8_lossy(&answer))
}

fn parse_answer(answer: &str) -> (u16, String) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A consumer's environment: PATH, an empty HOME, and the variables.
fn consumer(program: &Path, served: &Served, home: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .envs(served.variables())
        .stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd
}

fn arn_of(out: &Output, who: &str) -> String {
    assert!(
        out.status.success(),
        "{who} failed:\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out).trim().to_string()
}

/// The access key ids that signed GetCallerIdentity calls, in order.
fn caller_identity_signers(world: &World) -> Vec<String> {
    world
        .sts
        .calls()
        .iter()
        .filter(|c| c.action == Action::GetCallerIdentity)
        .filter_map(|c| c.signer.clone())
        .collect()
}

const BOTO3_CALLER: &str = "import sys, time, boto3\n\
     sts = boto3.client('sts', region_name='eu-west-1', endpoint_url=sys.argv[1])\n\
     print(sts.get_caller_identity()['Arn'])\n\
     if len(sys.argv) > 2:\n\
     \x20   time.sleep(float(sys.argv[2]))\n\
     \x20   print(sts.get_caller_identity()['Arn'])\n";

#[test]
fn aws_cli_boto3_rust_and_js_sdks_get_the_role_from_the_printed_variables_alone() {
    let world = World::new();
    let served = Served::start(&world, &[]);
    let home = tempfile::tempdir().unwrap();
    let sts = world.sts.url();

    let aws = consumer(&venv_bin("aws"), &served, home.path())
        .args(["sts", "get-caller-identity", "--endpoint-url", &sts])
        .args([
            "--region",
            "eu-west-1",
            "--query",
            "Arn",
            "--output",
            "text",
        ])
        .output()
        .unwrap();
    assert_eq!(arn_of(&aws, "the AWS CLI"), ADMIN_ARN);
    let boto3 = consumer(&venv_bin("python"), &served, home.path())
        .args(["-c", BOTO3_CALLER, &sts])
        .output()
        .unwrap();
    assert_eq!(arn_of(&boto3, "boto3"), ADMIN_ARN);
    let rust = consumer(&example("rust-sdk-consumer"), &served, home.path())
        .args(["-", &sts])
        .output()
        .unwrap();
    assert_eq!(arn_of(&rust, "the Rust SDK"), ADMIN_ARN);
    let script = node_consumer();
    let js = consumer(&node(), &served, home.path())
        .args([script.to_str().unwrap(), "-", &sts, "default"])
        .output()
        .unwrap();
    assert_eq!(arn_of(&js, "the JS SDK"), ADMIN_ARN);

    // Each signed with the served keys, which came from one touch-free
    // CALCULATE and one AssumeRole: the rest were cache hits.
    let served_key = served.credentials()["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(caller_identity_signers(&world), vec![served_key; 4]);
    assert_eq!(world.sts.count(&Action::AssumeRole), 1);
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
    assert!(
        !home.path().join(".aws").exists(),
        "no consumer wrote a config"
    );
}

#[test]
fn a_hundred_requests_at_once_on_an_empty_cache_cost_one_code_and_one_assume_role() {
    let world = World::new();
    let served = Arc::new(Served::start(&world, &[]));
    let start = Arc::new(Barrier::new(100));
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (served, start) = (served.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                served.get(Some(&served.token))
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}\nserver stderr: {}", served.stderr());
    }
    let first = &answers[0].1;
    assert!(
        answers.iter().all(|(_, body)| body == first),
        "identical answers"
    );
    let json: serde_json::Value = serde_json::from_str(first).unwrap();
    for field in [
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "RoleArn",
    ] {
        assert!(json[field].is_string(), "{field} in {json}");
    }
    assert_eq!(json["RoleArn"], ROLE_ARN);
    assert!(
        json["Expiration"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
    assert_eq!(world.sts.count(&Action::AssumeRole), 1);
}

#[test]
fn bad_requests_get_no_credentials_and_the_server_keeps_answering_good_ones() {
    let world = World::new();
    let served = Served::start(&world, &[]);
    let address = served.address();
    let path = served.path();
    let token = served.token.clone();
    let no_secret = |status: u16, body: &str, what: &str| {
        assert!(!body.contains("SecretAccessKey"), "{what}: {body}");
        let json: serde_json::Value = serde_json::from_str(body)
            .unwrap_or_else(|_| panic!("{what}: a JSON error, got {status} {body:?}"));
        assert!(
            json["code"].is_string() && json["message"].is_string(),
            "{what}: {json}"
        );
    };

    let (status, body) = served.get(None);
    assert_eq!(status, 401, "missing token: {body}");
    no_secret(status, &body, "missing token");
    let (status, body) = served.get(Some(&format!("{token}0")));
    assert_eq!(status, 403, "wrong token: {body}");
    no_secret(status, &body, "wrong token");
    let (status, body) = served.get(Some(&token.to_uppercase()));
    assert_eq!(status, 403, "token of another case: {body}");

    let with_token = |method: &str, path: &str, extra: &str| {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {token}\r\n{extra}Connection: close\r\n\r\n"
        );
        exchange(&address, request.as_bytes())
    };
    let (status, body) = with_token("POST", &path, "Content-Length: 0\r\n");
    assert_eq!(status, 405, "wrong method: {body}");
    no_secret(status, &body, "wrong method");
    let (status, body) = with_token("GET", "/latest/meta-data/", "");
    assert_eq!(status, 404, "wrong path: {body}");
    no_secret(status, &body, "wrong path");
    let (status, body) = with_token("GET", &path, "Content-Length: 100000\r\n");
    assert_eq!(status, 413, "a request with a body: {body}");
    let huge = format!("X-Padding: {}\r\n", "a".repeat(64 * 1024));
    let (status, body) = with_token("GET", &path, &huge);
    assert_eq!(status, 431, "an oversized head: {body}");
    assert!(!body.contains("SecretAccessKey"));

    // A head that never ends, and a kept-alive connection left idle: both
    // closed by the server within its header timeout.
    let started = Instant::now();
    let (status, body) = exchange(
        &address,
        format!("GET {path} HTTP/1.1\r\nAuthoriz").as_bytes(),
    );
    assert!(
        status != 200 && !body.contains("SecretAccessKey"),
        "{status} {body}"
    );
    assert!(
        started.elapsed() < HEADER_TIMEOUT_AND_SLACK,
        "{:?}",
        started.elapsed()
    );
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {token}\r\n\r\n");
    idle.write_all(request.as_bytes()).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = idle.read_to_end(&mut answer);
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() < HEADER_TIMEOUT_AND_SLACK,
        "idle kept {:?}",
        started.elapsed()
    );

    assert_eq!(served.credentials()["RoleArn"], ROLE_ARN, "still serving");
    assert_eq!(world.sts.count(&Action::AssumeRole), 1);
}

#[test]
fn a_failure_at_start_is_one_error_with_serves_hint_and_nothing_is_printed() {
    let world = World::new();
    world.sts.push_fault(Fault::AccessDenied);
    let mut child = world
        .vegas(&["serve", "--profile", "admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("vegas serve went on serving after its first fetch failed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = assert_clean_failure(&out);
    assert!(err.contains("denied"), "{err}");
    assert!(!err.contains("--token-code"), "{err}");
    assert_eq!(
        stdout(&out),
        "",
        "no variables for a server that is not there"
    );
    assert_eq!(world.sts.count(&Action::AssumeRole), 1);
}

#[test]
fn ten_requests_on_expired_credentials_share_one_failed_assume_role_and_the_next_succeeds() {
    // Credentials of 10 s, kept until they expire: then requests need a
    // fetch, which STS refuses.
    let world = World::with(
        CardSetup::default(),
        sts_config().credential_lifetime(Duration::from_secs(10)),
    );
    let served = Arc::new(Served::start(&world, &["--disable-mandatory-refresh"]));
    let expires = served.credentials()["Expiration"]
        .as_str()
        .unwrap()
        .to_string();
    world.sts.fail_all(Some(Fault::AccessDenied));
    let failed = || world.sts.count(&Action::AssumeRole) - world.sts.successes(&Action::AssumeRole);
    std::thread::sleep(Duration::from_secs(11));
    let before = failed();
    let start = Arc::new(Barrier::new(10));
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let (served, start) = (served.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                served.get(Some(&served.token))
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(failed() - before, 1, "one AssumeRole for all ten");
    for (status, body) in &answers {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(body, &answers[0].1, "identical answers");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON error");
        assert_eq!(json["code"], "StsError", "{json}");
        assert!(!body.contains("SecretAccessKey"));
        assert!(!body.contains("--token-code"), "serve's own hint: {body}");
    }
    assert!(served.stderr().contains("hint: "), "{}", served.stderr());
    world.sts.fail_all(None);
    let again = served.credentials();
    assert_eq!(again["RoleArn"], ROLE_ARN);
    assert_ne!(again["Expiration"].as_str().unwrap(), expires, "fresh ones");
}

#[test]
fn served_credentials_near_expiry_are_refreshed_in_the_background_and_boto3_signs_with_them() {
    // 15 s of life beyond the mandatory 10-minute window.
    let world = World::with(
        CardSetup::default(),
        sts_config().credential_lifetime(Duration::from_secs(600 + 15)),
    );
    let served = Served::start(&world, &[]);
    let issued_at = unix_now();
    let first = served.credentials()["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    // boto3 signs once now, and once when the keys are inside the window,
    // a new TOTP step has begun and the background refresh had time to run.
    let next_step = (issued_at / 30 + 1) * 30 + 1;
    let wake = next_step.max(issued_at + 16) + 2;
    let pause = wake.saturating_sub(unix_now()).to_string();
    let home = tempfile::tempdir().unwrap();
    let boto3 = consumer(&venv_bin("python"), &served, home.path())
        .args(["-c", BOTO3_CALLER, &world.sts.url(), &pause])
        .output()
        .unwrap();
    assert_eq!(arn_of(&boto3, "boto3").lines().count(), 2);
    let second = served.credentials()["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second, "refreshed");
    assert_eq!(caller_identity_signers(&world), vec![first, second]);
    assert_eq!(world.sts.count(&Action::AssumeRole), 2);
}

#[test]
fn a_request_during_the_background_refresh_gets_the_old_valid_keys_at_once() {
    // The refresh is due 15 s after the first keys; its touch takes 3 s.
    let world = World::with(
        CardSetup {
            touch: Some(TouchResponse::TouchedAfter(Duration::from_secs(3))),
            ..CardSetup::default()
        },
        sts_config().credential_lifetime(Duration::from_secs(600 + 15)),
    );
    let served = Served::start(&world, &[]);
    let key = |json: serde_json::Value| json["AccessKeyId"].as_str().unwrap().to_string();
    let first = key(served.credentials());
    std::thread::sleep(Duration::from_secs(15));
    let (mut old_during_refresh, started) = (0, Instant::now());
    let second = loop {
        let asked = Instant::now();
        let now = key(served.credentials());
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "a request waited {:?} for a refresh",
            asked.elapsed()
        );
        if now != first {
            break now;
        }
        old_during_refresh += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never refreshed"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The touch alone takes 3 s: requests were answered all along it.
    assert!(old_during_refresh >= 10, "{old_during_refresh}");
    assert_ne!(first, second);
    assert_eq!(world.sts.count(&Action::AssumeRole), 2);
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 2);
}

#[test]
fn sixty_four_refused_keep_alive_clients_do_not_starve_a_good_request() {
    let world = World::new();
    let served = Served::start(&world, &[]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..64)
        .map(|_| {
            let (address, path, stop) = (served.address(), served.path(), stop.clone());
            std::thread::spawn(move || {
                let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(&address) else {
                        continue;
                    };
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                    // The same connection again and again, while it lasts.
                    let mut buf = [0u8; 4096];
                    while stream.write_all(request.as_bytes()).is_ok() {
                        match stream.read(&mut buf) {
                            Ok(n) if n > 0 => {}
                            _ => break,
                        }
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let (status, body) = served.get(Some(&served.token));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for attacker in attackers {
        attacker.join().unwrap();
    }
}

#[test]
fn a_foreign_host_header_gets_no_credentials_even_with_the_token() {
    let world = World::new();
    let served = Served::start(&world, &[]);
    let port = served.address().rsplit_once(':').unwrap().1.to_string();
    let ask = |host: &str| {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            served.path(),
            served.token
        );
        exchange(&served.address(), request.as_bytes())
    };
    let (status, body) = ask(&format!("rebound.example:{port}"));
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("SecretAccessKey"), "{body}");
    assert_eq!(ask(&format!("localhost:{port}")).0, 200);
    assert_eq!(ask(&format!("127.0.0.1:{port}")).0, 200);
}

#[test]
fn vegas_assume_after_vegas_serve_filled_the_cache_is_a_hit() {
    let world = World::new();
    let served = Served::start(&world, &[]);
    let key = served.credentials()["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let out = world
        .vegas(&["assume", "--profile", "admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["AccessKeyId"].as_str(), Some(key.as_str()));
    assert_eq!(world.sts.count(&Action::AssumeRole), 1, "no new AssumeRole");
    assert_eq!(world.card_handle().calculations(OATH_LABEL), 1);
}

#[test]
fn sighup_stops_the_server_and_removes_the_token_file() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let mut served = Served::start(&world, &["--token-file", file.to_str().unwrap()]);
    let (status, took) = served.stop(libc::SIGHUP);
    assert_eq!(status.code(), Some(0), "{}", served.stderr());
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(!file.exists(), "token file left behind");
}

#[test]
fn kill_int_from_another_shell_reaches_the_command_when_vegas_is_in_the_foreground() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // $PPID of the command is vegas (vegas serve execs vegas-serve).
    let script = format!(
        "trap 'exit 5' INT; echo $PPID > '{}.part' && mv '{0}.part' '{0}'; sleep 30 & wait",
        pid_file.display()
    );
    let run = world.vegas_in_terminal(
        &["serve", "--profile", "admin", "--", "sh", "-c", &script],
        &[],
    );
    let started = Instant::now();
    while !pid_file.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the command did not start; screen:\n{}",
            run.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let vegas: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    unsafe { libc::kill(vegas, libc::SIGINT) };
    let outcome = run.wait(Duration::from_secs(5));
    assert_eq!(outcome.code, 5, "{outcome:?}");
}

#[test]
fn a_command_after_the_double_dash_sees_the_variables_and_its_status_is_returned() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let script = "import os, stat, sys, urllib.request\n\
        f = os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']\n\
        assert 'AWS_CONTAINER_AUTHORIZATION_TOKEN' not in os.environ\n\
        assert 'AWS_ACCESS_KEY_ID' not in os.environ\n\
        assert 'PCSCLITE_NO_BLOCKING' not in os.environ\n\
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600\n\
        url = os.environ['AWS_CONTAINER_CREDENTIALS_FULL_URI']\n\
        req = urllib.request.Request(url, headers={'Authorization': open(f).read()})\n\
        print(url)\n\
        print(urllib.request.urlopen(req).read().decode())\n\
        sys.exit(7)\n";
    let python = venv_bin("python");
    let out = world
        .vegas(&["serve", "--profile", "admin", "--token-file"])
        .arg(&token_file)
        .arg("--")
        .arg(&python)
        .args(["-c", script])
        .env("AWS_ACCESS_KEY_ID", "AKIASHADOWSTHESERVER")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let printed = stdout(&out);
    let (url, json) = printed.split_once('\n').unwrap();
    let json: serde_json::Value = serde_json::from_str(json.trim()).expect("credentials");
    assert_eq!(json["RoleArn"], ROLE_ARN);
    assert!(!token_file.exists(), "the token file is removed");
    let address = url.trim_start_matches("http://").split('/').next().unwrap();
    assert!(TcpStream::connect(address).is_err(), "the server is gone");

    let killed = world
        .vegas(&[
            "serve",
            "--profile",
            "admin",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ])
        .output()
        .unwrap();
    assert_eq!(killed.status.code(), Some(128 + 15), "{}", stderr(&killed));
}

#[test]
fn sigterm_to_vegas_is_passed_on_to_the_command_and_vegas_ends_with_it() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!(
        "trap 'exit 9' TERM; touch '{}'; sleep 30 & wait",
        ready.display()
    );
    let mut vegas = world
        .vegas(&["serve", "--profile", "admin", "--", "sh", "-c", &script])
        // (the orphaned `sleep` keeps any pipe open for its 30 s)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the command did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(vegas.id() as i32, libc::SIGTERM) };
    let stopping = Instant::now();
    let status = vegas.wait().unwrap();
    assert_eq!(status.code(), Some(9));
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopping.elapsed()
    );
}

#[test]
fn sigterm_and_sigint_stop_the_server_within_a_second_and_remove_the_token_file() {
    let world = World::new();
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let mut served = Served::start(&world, &["--token-file", file.to_str().unwrap()]);
        assert_eq!(Path::new(&served.token), file);
        assert!(file.exists());
        let (status, took) = served.stop(signal);
        assert_eq!(
            status.code(),
            Some(0),
            "signal {signal}: {}",
            served.stderr()
        );
        assert!(took < Duration::from_secs(1), "signal {signal}: {took:?}");
        assert!(!file.exists(), "signal {signal}: token file left behind");
    }
}

#[test]
fn an_existing_token_file_or_a_port_in_use_is_one_error_with_a_hint() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "someone else's").unwrap();
    let out = world
        .vegas(&[
            "serve",
            "--profile",
            "admin",
            "--token-file",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = assert_clean_failure(&out);
    assert!(err.contains("cannot create the token file"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "someone else's");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = world
        .vegas(&["serve", "--profile", "admin", "--listen", &address])
        .output()
        .unwrap();
    let err = assert_clean_failure(&out);
    assert!(
        err.contains(&format!("{address} is already in use")),
        "{err}"
    );
}

#[test]
fn no_log_line_shows_the_token_keys_or_code_even_with_verbose() {
    let world = World::new();
    let start = unix_now();
    let mut served = Served::start(&world, &["--verbose"]);
    let issued = served.credentials();
    served.credentials();
    served.get(Some("wrong"));
    served.stop(libc::SIGTERM);
    let log = served.stderr();
    assert!(
        log.contains("request answered"),
        "verbose shows requests: {log}"
    );
    let secrets: Vec<String> = vec![
        served.token.clone(),
        issued["SecretAccessKey"].as_str().unwrap().into(),
        issued["Token"].as_str().unwrap().into(),
        SOURCE_SECRET.into(),
    ];
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret in the log:\n{log}"
        );
    }
    for code in world.codes_since(start) {
        let digits: Vec<&str> = log.split(|c: char| !c.is_ascii_digit()).collect();
        assert!(
            !digits.contains(&code.as_str()),
            "code {code} in the log:\n{log}"
        );
    }
}

#[test]
fn the_vegas_binary_links_neither_hyper_nor_the_tokio_runtime() {
    // The server lives in vegas-serve so that a cache hit of `vegas assume`
    // never loads them (issue #14). Proved on vegas-serve first, so the
    // check is known to see them where they are.
    let symbols = |binary: &Path| {
        let out = Command::new("nm")
            .arg("-C")
            .arg(binary)
            .output()
            .expect("nm runs");
        assert!(
            out.status.success(),
            "nm {}: {}",
            binary.display(),
            stderr(&out)
        );
        stdout(&out)
    };
    let linked = |text: &str| {
        text.lines()
            .filter(|l| l.contains("hyper::") || l.contains("tokio::runtime::"))
            .count()
    };
    let server = vegas_bin().with_file_name("vegas-serve");
    assert!(
        linked(&symbols(&server)) > 0,
        "the check sees hyper in vegas-serve"
    );
    assert_eq!(linked(&symbols(&vegas_bin())), 0);
}

#[test]
fn a_listen_address_beyond_loopback_is_warned_about_and_clients_here_use_loopback() {
    let world = World::new();
    let served = Served::start(&world, &["--listen", "0.0.0.0:0"]);
    assert!(
        served.url.starts_with("http://127.0.0.1:"),
        "{}",
        served.url
    );
    assert_eq!(served.credentials()["RoleArn"], ROLE_ARN);
    let warned = || {
        served
            .stderr()
            .contains("vegas: warning: listening on 0.0.0.0:")
    };
    let started = Instant::now();
    while !warned() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(warned(), "{}", served.stderr());

    let quiet = Served::start(&world, &["--listen", "127.0.0.1:0"]);
    quiet.credentials();
    assert!(!quiet.stderr().contains("warning"), "{}", quiet.stderr());
}

#[test]
fn a_server_in_the_background_of_a_terminal_fails_with_a_hint_rather_than_stop_asking_a_password() {
    let world = World::with(
        CardSetup {
            password: Some("sesame".into()),
            ..CardSetup::default()
        },
        sts_config(),
    );
    // `set -m`: the job gets a process group of its own, not the terminal's.
    let script = format!(
        "set -m; '{}' serve --profile admin >/dev/null & wait $!",
        vegas_bin().display()
    );
    let run = world.in_terminal(Path::new("bash"), &["-c", &script]);
    let outcome = run.wait(Duration::from_secs(20));
    // (Here the read would fail with EIO; on a desktop it stops vegas.)
    assert_ne!(outcome.code, 0, "{outcome:?}");
    assert!(
        !outcome.screen.contains("OATH password for"),
        "asked on a terminal it could not read: {outcome:?}"
    );
    assert!(
        outcome.stderr.contains("has an OATH password")
            && outcome
                .stderr
                .contains("hint: run `vegas assume --profile admin` once"),
        "{outcome:?}"
    );
    assert_eq!(world.sts.count(&Action::AssumeRole), 0);
}
