//! A private pcscd per test, with two vpcd reader slots named like a
//! YubiKey's ("Yubico YubiKey OTP+FIDO+CCID 00 00" and "… 00 01"), so tests
//! run in parallel, each with its own readers and cards.
//!
//! pcscd's socket path is fixed at build time, so the daemon runs in a
//! private mount namespace with a temp dir bound over /run/pcscd; clients
//! reach it through `PCSCLITE_CSOCK_NAME` ([`Pcscd::env`]).
//!
//! libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process, so the test
//! process itself cannot watch several daemons through the `pcsc` crate.
//! Card presence is therefore watched by a `pcsc_scan` child per daemon: a
//! real PC/SC client, event-driven (no fixed sleeps; pcscd polls vpcd about
//! every 400 ms).

use super::card::vpcd::ConnectedCard;
use super::card::{CardHandle, VirtualYubiKey};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The reader name ykman recognises as a YubiKey (it wants "yubico yubikey").
pub const READER_FRIENDLY_NAME: &str = "Yubico YubiKey OTP+FIDO+CCID";
const INSTALL_HINT: &str = "install pcscd vsmartcard-vpcd pcsc-tools (scripts/test does)";
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
/// Generous: pcscd is slow to start on a loaded CI machine. Only failures wait this long.
const WAIT_LIMIT: Duration = Duration::from_secs(15);
const SLOTS: u8 = 2;

/// A running private pcscd. Dropping it kills the daemon and its watcher
/// and deletes its directory, also when the test panics.
pub struct Pcscd {
    dir: tempfile::TempDir,
    base_port: u16,
    daemon: Child,
    scanner: Option<Child>,
    readers: Arc<ReaderStates>,
}

impl Pcscd {
    /// Starts pcscd with two empty vpcd slots and waits until PC/SC lists both readers.
    pub fn start() -> Pcscd {
        check_installed();
        let mut failure = String::new();
        // Another process may take a port between our check and vpcd's bind: try new ports.
        for _ in 0..3 {
            match Pcscd::start_on(free_port_pair()) {
                Ok(pcscd) => return pcscd,
                Err(diagnostics) => failure = diagnostics,
            }
        }
        panic!("pcscd could not open its vpcd readers, three times\n{failure}");
    }

    fn start_on(base_port: u16) -> Result<Pcscd, String> {
        let dir = tempfile::Builder::new()
            .prefix("vegas-pcscd-")
            .tempdir()
            .expect("temp dir");
        let (run_dir, conf_dir) = (dir.path().join("run"), dir.path().join("conf"));
        std::fs::create_dir(&run_dir).expect("run dir");
        std::fs::create_dir(&conf_dir).expect("conf dir");
        std::fs::write(conf_dir.join("vpcd"), reader_conf(base_port)).expect("reader conf");
        std::fs::create_dir_all("/run/pcscd").unwrap_or_else(|e| {
            panic!("cannot create /run/pcscd (needed as a mount point; run as root): {e}")
        });

        let log = File::create(dir.path().join("pcscd.log")).expect("pcscd log");
        let daemon = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$1" /run/pcscd && exec pcscd --foreground --apdu -c "$2""#)
            .arg("sh")
            .arg(&run_dir)
            .arg(&conf_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pcscd through unshare: {e}; {INSTALL_HINT}"));

        let mut pcscd = Pcscd {
            dir,
            base_port,
            daemon,
            scanner: None,
            readers: Arc::new(ReaderStates::default()),
        };
        pcscd.wait_for_socket();
        pcscd.scanner = Some(pcscd.start_scanner());
        pcscd.wait_for_readers()?;
        Ok(pcscd)
    }

    /// The socket clients must use (`PCSCLITE_CSOCK_NAME`).
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("run/pcscd.comm")
    }

    /// Environment for a PC/SC client (vegas, ykman, pcsc_scan) of this daemon:
    /// `command.envs(pcscd.env())`.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![("PCSCLITE_CSOCK_NAME", self.socket_path().into_os_string())]
    }

    /// A command for `program` with [`Self::env`] applied.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env());
        command
    }

    /// The PC/SC name of reader `slot` (0 or 1), e.g. "Yubico YubiKey OTP+FIDO+CCID 00 00".
    pub fn reader_name(&self, slot: u8) -> String {
        assert!(slot < SLOTS, "this pcscd has slots 0 and 1");
        format!("{READER_FRIENDLY_NAME} 00 {slot:02X}")
    }

    /// The TCP port the vpcd driver listens on for `slot`.
    pub fn vpcd_port(&self, slot: u8) -> u16 {
        self.base_port + u16::from(slot)
    }

    /// pcscd's own output (`--apdu`: every APDU in hex). For debugging; it
    /// holds test secrets only.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pcscd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Puts `card` in slot 0 and returns once PC/SC reports it present.
    pub fn insert(&self, card: VirtualYubiKey) -> InsertedCard {
        self.insert_in_slot(0, card)
    }

    /// Puts `card` in `slot` and returns once PC/SC reports it present.
    pub fn insert_in_slot(&self, slot: u8, card: VirtualYubiKey) -> InsertedCard {
        let reader = self.reader_name(slot);
        let handle = card.handle();
        let connected = ConnectedCard::connect(self.vpcd_port(slot), card).unwrap_or_else(|e| {
            panic!(
                "card cannot reach vpcd on port {}: {e}\n{}",
                self.vpcd_port(slot),
                self.diagnostics()
            )
        });
        if !self.readers.wait_for(&reader, true, WAIT_LIMIT) {
            panic!(
                "PC/SC never saw the card in {reader:?}\n{}",
                self.diagnostics()
            );
        }
        InsertedCard {
            connected: Some(connected),
            handle,
            reader,
            readers: Arc::clone(&self.readers),
        }
    }

    fn wait_for_socket(&mut self) {
        let deadline = Instant::now() + WAIT_LIMIT;
        while !self.socket_path().exists() {
            if let Ok(Some(status)) = self.daemon.try_wait() {
                panic!(
                    "pcscd exited ({status}) before opening its socket\n{}",
                    self.diagnostics()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "pcscd did not open {} in time\n{}",
                    self.socket_path().display(),
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until PC/SC lists every slot; `Err` with the log if vpcd failed
    /// to open one (its port was taken).
    fn wait_for_readers(&self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT_LIMIT;
        for slot in 0..SLOTS {
            let reader = self.reader_name(slot);
            while !self
                .readers
                .wait_for(&reader, false, Duration::from_millis(100))
            {
                if self.log().contains("init failed") || Instant::now() > deadline {
                    return Err(self.diagnostics());
                }
            }
        }
        Ok(())
    }

    fn start_scanner(&self) -> Child {
        let mut scanner = self
            .command("pcsc_scan")
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run pcsc_scan: {e}; {INSTALL_HINT}"));
        let stdout = scanner.stdout.take().expect("pcsc_scan stdout");
        let readers = Arc::clone(&self.readers);
        std::thread::spawn(move || readers.follow(BufReader::new(stdout)));
        scanner
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- pcscd log ({}) ---\n{}",
            self.log_path().display(),
            self.log()
        )
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        for child in self.scanner.iter_mut().chain([&mut self.daemon]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A card in a reader of a [`Pcscd`]. Dropping it pulls the card out without waiting.
pub struct InsertedCard {
    connected: Option<ConnectedCard>,
    handle: CardHandle,
    reader: String,
    readers: Arc<ReaderStates>,
}

impl InsertedCard {
    /// The card's counters and touch control.
    pub fn handle(&self) -> &CardHandle {
        &self.handle
    }

    /// The PC/SC reader the card sits in.
    pub fn reader_name(&self) -> &str {
        &self.reader
    }

    /// Pulls the card out and returns once PC/SC reports the reader empty
    /// (so that inserting it again is noticed). The card keeps its state.
    pub fn remove(mut self) -> VirtualYubiKey {
        let card = self
            .connected
            .take()
            .expect("card still inserted")
            .disconnect();
        if !self.readers.wait_for(&self.reader, false, WAIT_LIMIT) {
            panic!("PC/SC never saw the card leave {:?}", self.reader);
        }
        card
    }
}

/// Environment for a client when no pcscd runs at all (the socket does not
/// exist): libpcsclite then fails with "service not available".
pub fn env_without_pcscd(scratch: &Path) -> Vec<(&'static str, OsString)> {
    vec![(
        "PCSCLITE_CSOCK_NAME",
        scratch.join("no-pcscd/pcscd.comm").into_os_string(),
    )]
}

/// Card presence per reader, as pcsc_scan reports it.
#[derive(Default)]
struct ReaderStates {
    present: Mutex<HashMap<String, bool>>,
    changed: Condvar,
}

impl ReaderStates {
    /// Reads pcsc_scan's report: " Reader N: NAME" then "  Card state: Card inserted, …".
    fn follow(&self, output: impl BufRead) {
        let mut current: Option<String> = None;
        for line in output.split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line);
            if let Some((_, name)) = line
                .split_once(" Reader ")
                .and_then(|(_, rest)| rest.split_once(": "))
            {
                current = Some(name.trim().to_owned());
            } else if let (Some(reader), true) = (&current, line.contains("Card state:")) {
                let present = line.contains("Card inserted");
                self.present.lock().unwrap().insert(reader.clone(), present);
                self.changed.notify_all();
            }
        }
    }

    /// Waits at most `limit` until `reader` is listed with card presence `present`.
    fn wait_for(&self, reader: &str, present: bool, limit: Duration) -> bool {
        let states = self.present.lock().unwrap();
        let (_states, timeout) = self
            .changed
            .wait_timeout_while(states, limit, |states| states.get(reader) != Some(&present))
            .unwrap();
        !timeout.timed_out()
    }
}

fn check_installed() {
    if !Path::new(VPCD_DRIVER).exists() {
        panic!("the vpcd reader driver {VPCD_DRIVER} is missing; {INSTALL_HINT}");
    }
    for program in ["pcscd", "pcsc_scan", "unshare"] {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|dir| dir.join(program).is_file());
        if !found {
            panic!("{program} is not installed; {INSTALL_HINT}");
        }
    }
}

/// Two consecutive free TCP ports (vpcd listens on one per slot), picked at
/// random in a high range so parallel tests rarely collide.
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let mut random = [0u8; 2];
        getrandom::fill(&mut random).expect("randomness");
        let port = 20_000 + (u16::from_be_bytes(random) % 20_000) * 2;
        let bindable = |p: u16| TcpListener::bind(("0.0.0.0", p)).is_ok();
        if bindable(port) && bindable(port + 1) {
            return port;
        }
    }
    panic!("no free pair of TCP ports for vpcd");
}

fn reader_conf(port: u16) -> String {
    format!(
        "FRIENDLYNAME \"{READER_FRIENDLY_NAME}\"\nDEVICENAME   /dev/null:0x{port:04X}\nLIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{port:04X}\n"
    )
}
