//! Benchmark: postern-mda's IMAP server vs a stock Dovecot 2.3 on the same machine in one run,
//! each on its own copy of one generated 10,000-message Maildir INBOX: cold first open, LOGIN +
//! SELECT, a full FETCH, SEARCH TEXT, a concurrent mixed workload and the memory held by idle
//! IDLE connections, alternating servers, reported as medians and ratios (Markdown table).
//!
//! Run as root with the peers installed: `tests/bench-imap [--messages N] [--rounds N]
//! [--logins N] [--clients N] [--seconds N] [--mixed-rounds N] [--idle N] [--only NAME]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use postern_tests::bench::{median, number_arg, percentile, rss_kib, text_arg};
use postern_tests::dovecot::{DovecotBuilder, VMAIL_UID, passwd_line};
use postern_tests::imap_client::ImapClient;
use postern_tests::workdir::WorkDir;
use postern_tests::{binaries, free_port, wait_until};

const USER: &str = "bob@example.org";
const PASSWORD: &str = "secret";
/// In the body of a few percent of the messages, and nowhere else.
const RARE_WORD: &str = "quixotically";
const TIMEOUT: Duration = Duration::from_secs(300);

struct Options {
    messages: usize,
    rounds: usize,
    logins: usize,
    clients: usize,
    seconds: u64,
    mixed_rounds: usize,
    idle: usize,
    only: String,
}

/// One server under test.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    /// The processes whose memory counts: postern-mda's pid, or Dovecot's master (with all its
    /// descendants).
    pid: u32,
    tree: bool,
}

impl Server {
    fn pids(&self) -> Vec<u32> {
        if self.tree {
            descendants(self.pid)
        } else {
            vec![self.pid]
        }
    }

    fn rss_kib(&self) -> u64 {
        self.pids().into_iter().map(rss_kib).sum()
    }

    fn pss_kib(&self) -> u64 {
        self.pids().into_iter().map(pss_kib).sum()
    }

    fn connect(&self) -> Result<ImapClient, String> {
        let (client, _) =
            ImapClient::connect(self.addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
        Ok(client)
    }

    fn session(&self) -> Result<ImapClient, String> {
        let mut client = self.connect()?;
        client.login(USER, PASSWORD).map_err(|e| e.to_string())?;
        Ok(client)
    }
}

/// A running postern-mda, killed on drop.
struct PosternMda {
    child: Child,
    dir: PathBuf,
}

impl PosternMda {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mda.log")).unwrap_or_default()
    }
}

impl Drop for PosternMda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What each measurement gave, per server (index 0 postern-mda, 1 Dovecot).
#[derive(Default)]
struct Figures {
    cold_select: [Option<f64>; 2],
    cold_fetch: [Option<f64>; 2],
    login: [Vec<f64>; 2],
    fetch: [Vec<f64>; 2],
    search: [Vec<f64>; 2],
    mixed_rate: [Vec<f64>; 2],
    mixed_latency: [Vec<f64>; 2],
    idle: [Option<IdleMemory>; 2],
    notes: Vec<String>,
}

#[derive(Clone, Copy)]
struct IdleMemory {
    connections: usize,
    baseline_rss: u64,
    peak_rss: u64,
    baseline_pss: u64,
    pss: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let options = Options {
        messages: number_arg(&args, "--messages", 10_000),
        rounds: number_arg(&args, "--rounds", 5),
        logins: number_arg(&args, "--logins", 100),
        clients: number_arg(&args, "--clients", 50),
        seconds: number_arg(&args, "--seconds", 20) as u64,
        mixed_rounds: number_arg(&args, "--mixed-rounds", 3),
        idle: number_arg(&args, "--idle", 1000),
        only: text_arg(&args, "--only", "").to_string(),
    };
    let nofile = raise_nofile(65_536);

    let work = WorkDir::new("bench-imap");
    let mailbox = mailbox::generate(options.messages, RARE_WORD);
    let mda_dir = work.subdir("mda", 0o755);
    let mda_maildir = mda_dir.join("vmail/example.org/bob/Maildir");
    let dovecot_home = work.path().join("dovecot-home/bob");
    let build = Instant::now();
    mailbox::write(&mda_maildir, &mailbox.files);
    mailbox::write(&dovecot_home.join("Maildir"), &mailbox.files);
    postern_tests::workdir::chown_to(
        &work.path().join("dovecot-home"),
        &format!("{VMAIL_UID}:{VMAIL_UID}"),
    );
    let bytes: usize = mailbox.files.iter().map(|f| f.data.len()).sum();
    let build = build.elapsed();

    let want = |name: &str| options.only.is_empty() || options.only.eq_ignore_ascii_case(name);
    // `--only dovecot` needs no postern-mda build (for debugging the harness).
    let mda = want("postern-mda").then(|| start_postern(&mda_dir));
    let limit = 2000.max(options.idle + options.clients + 100);
    let dovecot = DovecotBuilder::new(&work.subdir("dovecot", 0o755))
        .passwd([passwd_line(
            USER,
            &format!("{{PLAIN}}{PASSWORD}"),
            &dovecot_home.display().to_string(),
            "",
        )])
        .imap()
        // Stock Dovecot (high-security login processes, one imap process per connection),
        // with the limits raised so that one user from one address may hold them all.
        .setting(&format!("mail_max_userip_connections = {limit}"))
        .setting(&format!("default_process_limit = {limit}"))
        .setting(&format!("default_client_limit = {}", 2 * limit))
        .setting(&format!(
            "service imap-login {{\n  client_limit = {}\n}}",
            2 * limit
        ))
        .setting(&format!(
            "service anvil {{\n  client_limit = {}\n}}",
            4 * limit
        ))
        .setting(&format!(
            "service auth {{\n  client_limit = {}\n}}",
            4 * limit
        ))
        .start();
    let servers = [
        Server {
            name: "postern-mda",
            addr: SocketAddr::from(([127, 0, 0, 1], mda.as_ref().map_or(0, |m| m.1))),
            pid: mda.as_ref().map_or(0, |m| m.0.child.id()),
            tree: false,
        },
        Server {
            name: "Dovecot",
            addr: SocketAddr::from(([127, 0, 0, 1], dovecot.imap_port())),
            pid: dovecot.pid(),
            tree: true,
        },
    ];
    let active: Vec<usize> = (0..2).filter(|i| want(servers[*i].name)).collect();

    let versions = format!(
        "postern-mda {}, Dovecot {}",
        if mda.is_some() {
            command_version(&binaries::path("postern-mda"), "--version")
        } else {
            "(not run)".into()
        },
        command_version(Path::new("dovecot"), "--version")
    );
    println!(
        "# IMAP: postern-mda vs Dovecot\n\n{versions}\n\n\
         INBOX of {} messages ({:.1} MB, {} \\Seen, {} with {RARE_WORD:?}), written twice in {:.1} s; \
         {} cores; RLIMIT_NOFILE {nofile}\n",
        options.messages,
        bytes as f64 / 1e6,
        mailbox.seen,
        mailbox.rare,
        build.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let mut figures = Figures::default();
    let mut sessions: [Option<ImapClient>; 2] = [None, None];
    for &i in &active {
        match warm_up(&servers[i], options.messages) {
            Ok((client, select, fetch)) => {
                println!(
                    "{:<12} cold: SELECT {select:.1} ms, FETCH 1:* (FLAGS) {fetch:.1} ms",
                    servers[i].name
                );
                figures.cold_select[i] = Some(select);
                figures.cold_fetch[i] = Some(fetch);
                sessions[i] = Some(client);
            }
            Err(e) => note(&mut figures, format!("{} warm-up: {e}", servers[i].name)),
        }
    }

    for round in 1..=options.rounds {
        for &i in &active {
            let server = &servers[i];
            match login_round(server, options.logins) {
                Ok(mut times) => {
                    println!(
                        "round {round}: {:<12} LOGIN+SELECT+LOGOUT median {:.2} ms",
                        server.name,
                        median(&mut times)
                    );
                    figures.login[i].extend(times);
                }
                Err(e) => note(
                    &mut figures,
                    format!("{} login round {round}: {e}", server.name),
                ),
            }
            let Some(client) = sessions[i].as_mut() else {
                continue;
            };
            match timed_fetch_all(client, options.messages) {
                Ok(ms) => {
                    println!(
                        "round {round}: {:<12} FETCH 1:* full {ms:.1} ms",
                        server.name
                    );
                    figures.fetch[i].push(ms);
                }
                Err(e) => note(
                    &mut figures,
                    format!("{} FETCH round {round}: {e}", server.name),
                ),
            }
            match timed_search(client, mailbox.rare) {
                Ok(ms) => {
                    println!("round {round}: {:<12} SEARCH TEXT {ms:.1} ms", server.name);
                    figures.search[i].push(ms);
                }
                Err(e) => note(
                    &mut figures,
                    format!("{} SEARCH round {round}: {e}", server.name),
                ),
            }
        }
    }
    for session in sessions.iter_mut() {
        if let Some(client) = session.take() {
            let _ = client.logout();
        }
    }

    for round in 1..=options.mixed_rounds {
        for &i in &active {
            let server = &servers[i];
            let seed = round as u64 * 1_000_003;
            let mut run = mixed_workload(server, &options, seed);
            println!(
                "round {round}: {:<12} mixed: {:.0} commands/s, p99 {:.1} ms, {} errors",
                server.name,
                run.rate,
                percentile(&mut run.latencies.clone(), 99.0),
                run.errors.len()
            );
            let breakdown: Vec<String> = MIXED
                .iter()
                .zip(run.by_command.iter_mut())
                .map(|(name, l)| {
                    format!(
                        "{name} {:.1}/{:.1}",
                        percentile(l, 50.0),
                        percentile(l, 99.0)
                    )
                })
                .collect();
            println!(
                "         median/p99 ms by command: {}",
                breakdown.join(", ")
            );
            if let Some(first) = run.errors.first() {
                note(
                    &mut figures,
                    format!(
                        "{} mixed round {round}: {} errors, first: {first}",
                        server.name,
                        run.errors.len()
                    ),
                );
            }
            figures.mixed_rate[i].push(run.rate);
            figures.mixed_latency[i].extend(run.latencies);
        }
    }

    for &i in &active {
        match idle_memory(&servers[i], options.idle) {
            Ok(memory) => {
                println!(
                    "{:<12} {} IDLE connections: RSS {} → {} KiB, PSS {} → {} KiB",
                    servers[i].name,
                    memory.connections,
                    memory.baseline_rss,
                    memory.peak_rss,
                    memory.baseline_pss,
                    memory.pss
                );
                figures.idle[i] = Some(memory);
            }
            Err(e) => note(&mut figures, format!("{} IDLE: {e}", servers[i].name)),
        }
        // Let the closed connections' processes (Dovecot) or tasks go before the next one.
        std::thread::sleep(Duration::from_secs(2));
    }

    let mda_log = mda.as_ref().map(|m| m.0.log()).unwrap_or_default();
    for line in mda_log.lines().filter(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("warn") || l.contains("error")
    }) {
        note(&mut figures, format!("postern-mda log: {line}"));
    }
    for line in dovecot
        .log()
        .lines()
        .filter(|l| l.contains("Error") || l.contains("Fatal") || l.contains("Panic"))
    {
        note(&mut figures, format!("dovecot log: {line}"));
    }

    let table = render_table(&mut figures, &options);
    println!("\n{table}");
    if !figures.notes.is_empty() {
        println!("Notes:");
        for n in &figures.notes {
            println!("- {n}");
        }
    }
    println!("\n{versions}");
}

fn note(figures: &mut Figures, text: String) {
    eprintln!("{text}");
    figures.notes.push(text);
}

/// Raises the soft (and if allowed the hard) limit on open files; the limit in effect.
fn raise_nofile(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    if setrlimit(Resource::RLIMIT_NOFILE, want.max(soft), want.max(hard)).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |(s, _)| s)
}

/// postern-mda on an IMAP port of its own, with the connection limits lifted; (daemon, port).
fn start_postern(dir: &Path) -> (PosternMda, u16) {
    std::fs::write(
        dir.join("users"),
        format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
    )
    .unwrap();
    let port = free_port();
    let d = dir.display();
    let config = format!(
        "[daemon]\nlog_level = \"warn\"\nshutdown_timeout = \"2s\"\nmax_connections = 5000\n\n\
         [lmtp]\nlisten = [\"unix:{d}/lmtp.sock\"]\nsocket_mode = \"0666\"\nhostname = \"mda.test\"\n\n\
         [auth]\nlisten = [\"unix:{d}/auth.sock\"]\nsocket_mode = \"0666\"\n\n\
         [users]\npasswd_file = \"{d}/users\"\nhome = \"{d}/vmail/%d/%n\"\ndomains = [\"example.org\"]\n\n\
         [mail]\nlayout = \"maildir++\"\nmaildir = \"Maildir\"\n\n\
         [imap]\nlisten = [\"127.0.0.1:{port}\"]\nmax_connections_per_user = 0\n\
         max_connections_per_ip = 0\n"
    );
    std::fs::write(dir.join("mda.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("mda.log")).unwrap();
    let child = Command::new(binaries::path("postern-mda"))
        .arg("--config")
        .arg(dir.join("mda.toml"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mda = PosternMda {
        child,
        dir: dir.to_path_buf(),
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        }),
        "postern-mda did not open its IMAP port: {}",
        mda.log()
    );
    (mda, port)
}

fn command_version(program: &Path, flag: &str) -> String {
    Command::new(program)
        .arg(flag)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("? ({e})"))
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// The first SELECT and FETCH 1:* (FLAGS) (both servers build their indexes); the session
/// stays open for the FETCH and SEARCH rounds.
fn warm_up(server: &Server, messages: usize) -> Result<(ImapClient, f64, f64), String> {
    let mut client = server.session()?;
    let start = Instant::now();
    let selected = client
        .command_ok("SELECT INBOX")
        .map_err(|e| e.to_string())?;
    let select = ms_since(start);
    let exists = selected.count_numbered("EXISTS");
    if exists == 0 {
        return Err("SELECT INBOX gave no EXISTS".into());
    }
    let start = Instant::now();
    let fetched = client
        .command_ok("FETCH 1:* (FLAGS)")
        .map_err(|e| e.to_string())?;
    let fetch = ms_since(start);
    let n = fetched.count_numbered("FETCH");
    if n != messages {
        return Err(format!(
            "FETCH 1:* (FLAGS) gave {n} FETCH lines, expected {messages}"
        ));
    }
    Ok((client, select, fetch))
}

/// `count` times connect → greeting → LOGIN → SELECT INBOX → LOGOUT; milliseconds each.
fn login_round(server: &Server, count: usize) -> Result<Vec<f64>, String> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let start = Instant::now();
        let mut client = server.session()?;
        client
            .command_ok("SELECT INBOX")
            .map_err(|e| e.to_string())?;
        client.logout().map_err(|e| format!("LOGOUT: {e}"))?;
        times.push(ms_since(start));
    }
    Ok(times)
}

fn timed_fetch_all(client: &mut ImapClient, messages: usize) -> Result<f64, String> {
    let command = "FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)";
    let start = Instant::now();
    let reply = client.command_ok(command).map_err(|e| e.to_string())?;
    let ms = ms_since(start);
    let n = reply.count_numbered("FETCH");
    if n != messages {
        return Err(format!("{command}: {n} FETCH lines, expected {messages}"));
    }
    Ok(ms)
}

fn timed_search(client: &mut ImapClient, expected: usize) -> Result<f64, String> {
    let command = format!("SEARCH TEXT {RARE_WORD}");
    let start = Instant::now();
    let reply = client.command_ok(&command).map_err(|e| e.to_string())?;
    let ms = ms_since(start);
    let hits = reply.search_hits().len();
    if hits != expected {
        return Err(format!("{command}: {hits} hits, expected {expected}"));
    }
    Ok(ms)
}

/// The mixed workload's commands, in loop order (for the per-command breakdown).
const MIXED: [&str; 6] = [
    "SELECT",
    "FETCH 20",
    "FETCH BODY",
    "SEARCH UNSEEN",
    "STORE",
    "NOOP",
];

struct MixedRun {
    rate: f64,
    latencies: Vec<f64>,
    /// Latencies by command, as [`MIXED`].
    by_command: [Vec<f64>; 6],
    errors: Vec<String>,
}

/// `options.clients` sessions, each looping over SELECT, FETCH of 20 random messages, FETCH
/// of one random BODY.PEEK[], SEARCH UNSEEN, STORE +FLAGS (\Seen), NOOP for
/// `options.seconds`; commands/s over all and each command's latency in ms.
fn mixed_workload(server: &Server, options: &Options, seed: u64) -> MixedRun {
    let start_line = Arc::new(Barrier::new(options.clients + 1));
    let duration = Duration::from_secs(options.seconds);
    let messages = options.messages as u64;
    let workers: Vec<_> = (0..options.clients)
        .map(|c| {
            let start_line = start_line.clone();
            let addr = server.addr;
            std::thread::spawn(move || {
                let session = ImapClient::connect(addr, TIMEOUT)
                    .map_err(|e| format!("connect: {e}"))
                    .and_then(|(mut client, _)| {
                        client
                            .login(USER, PASSWORD)
                            .map(|_| client)
                            .map_err(|e| e.to_string())
                    });
                start_line.wait();
                let mut client = match session {
                    Ok(client) => client,
                    Err(e) => return (Default::default(), vec![e]),
                };
                let mut rng = SplitMix(seed ^ (c as u64).wrapping_mul(0x9e37_79b9));
                let mut latencies: [Vec<f64>; 6] = Default::default();
                let mut errors = Vec::new();
                let start = Instant::now();
                'run: while start.elapsed() < duration {
                    let twenty: Vec<String> = (0..20)
                        .map(|_| (rng.below(messages) + 1).to_string())
                        .collect();
                    let commands = [
                        "SELECT INBOX".to_string(),
                        format!("FETCH {} (FLAGS ENVELOPE)", twenty.join(",")),
                        format!("FETCH {} BODY.PEEK[]", rng.below(messages) + 1),
                        "SEARCH UNSEEN".to_string(),
                        format!("STORE {} +FLAGS (\\Seen)", rng.below(messages) + 1),
                        "NOOP".to_string(),
                    ];
                    for (kind, command) in commands.iter().enumerate() {
                        let sent = Instant::now();
                        match client.command(command) {
                            Ok(reply) if reply.is_ok() => latencies[kind].push(ms_since(sent)),
                            Ok(reply) => {
                                latencies[kind].push(ms_since(sent));
                                errors.push(format!("C: {command} S: {}", reply.status));
                            }
                            Err(e) => {
                                errors.push(format!("C: {command}: {e}"));
                                break 'run;
                            }
                        }
                    }
                }
                let _ = client.logout();
                (latencies, errors)
            })
        })
        .collect();
    start_line.wait();
    let start = Instant::now();
    let mut by_command: [Vec<f64>; 6] = Default::default();
    let mut errors = Vec::new();
    for worker in workers {
        let (l, e) = worker.join().unwrap();
        for (all, one) in by_command.iter_mut().zip(l) {
            all.extend(one);
        }
        errors.extend(e);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let latencies: Vec<f64> = by_command.iter().flatten().copied().collect();
    MixedRun {
        rate: latencies.len() as f64 / elapsed,
        latencies,
        by_command,
        errors,
    }
}

/// Memory of the server before and with `count` connections in IDLE (LOGIN, SELECT INBOX,
/// IDLE, `+` seen); the RSS is the largest sampled while they open and sit.
fn idle_memory(server: &Server, count: usize) -> Result<IdleMemory, String> {
    std::thread::sleep(Duration::from_secs(1));
    let baseline_rss = server.rss_kib();
    let baseline_pss = server.pss_kib();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let (pid, tree) = (server.pid, server.tree);
        std::thread::spawn(move || {
            let probe = Server {
                name: "",
                addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                pid,
                tree,
            };
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(probe.rss_kib());
                std::thread::sleep(Duration::from_millis(if tree { 200 } else { 10 }));
            }
            peak
        })
    };
    let threads = 8;
    let openers: Vec<_> = (0..threads)
        .map(|t| {
            let addr = server.addr;
            let n = count / threads + usize::from(t < count % threads);
            std::thread::spawn(move || -> Result<Vec<ImapClient>, String> {
                let mut open = Vec::with_capacity(n);
                for _ in 0..n {
                    let (mut client, _) =
                        ImapClient::connect(addr, TIMEOUT).map_err(|e| format!("connect: {e}"))?;
                    client.login(USER, PASSWORD).map_err(|e| e.to_string())?;
                    client
                        .command_ok("SELECT INBOX")
                        .map_err(|e| e.to_string())?;
                    client.idle_start().map_err(|e| e.to_string())?;
                    open.push(client);
                }
                Ok(open)
            })
        })
        .collect();
    let mut open = Vec::with_capacity(count);
    let mut failure = None;
    for opener in openers {
        match opener.join().unwrap() {
            Ok(clients) => open.extend(clients),
            Err(e) => failure = Some(e),
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let final_rss = server.rss_kib();
    let pss = server.pss_kib();
    done.store(true, Ordering::SeqCst);
    let peak_rss = sampler.join().unwrap().max(final_rss);
    let connections = open.len();
    drop(open);
    if let Some(e) = failure {
        return Err(format!("after {connections} IDLE connections: {e}"));
    }
    Ok(IdleMemory {
        connections,
        baseline_rss,
        peak_rss,
        baseline_pss,
        pss,
    })
}

/// `root` and all its descendants, from the ppid field of `/proc/*/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat
            .rfind(')')
            .and_then(|end| stat.get(end + 2..))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

/// Proportional set size of a process in KiB (shared pages split among their users).
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A small deterministic generator (SplitMix64): both servers get the same command sequence.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Label, postern-mda's and Dovecot's figure, whether higher is better, decimals.
type Row = (String, Option<f64>, Option<f64>, bool, usize);

fn render_table(figures: &mut Figures, options: &Options) -> String {
    let fmt =
        |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let med = |v: &mut Vec<f64>| (!v.is_empty()).then(|| median(v));
    let p = |v: &mut Vec<f64>, q: f64| (!v.is_empty()).then(|| percentile(v, q));
    // Dovecot / postern-mda for times and memory, postern-mda / Dovecot for rates: > 1 means
    // postern-mda is faster or smaller.
    let ratio = |a: Option<f64>, b: Option<f64>, higher_is_better: bool| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
            format!("{:.2}", if higher_is_better { a / b } else { b / a })
        }
        _ => "–".to_string(),
    };
    let mut rows: Vec<Row> = Vec::new();
    let n = options.messages;
    rows.push((
        format!("first SELECT INBOX, cold ({n} msgs), ms"),
        figures.cold_select[0],
        figures.cold_select[1],
        false,
        1,
    ));
    rows.push((
        "first FETCH 1:* (FLAGS), cold, ms".into(),
        figures.cold_fetch[0],
        figures.cold_fetch[1],
        false,
        1,
    ));
    let [l0, l1] = &mut figures.login;
    rows.push((
        "connect+LOGIN+SELECT+LOGOUT, median ms".into(),
        med(l0),
        med(l1),
        false,
        2,
    ));
    rows.push((
        "connect+LOGIN+SELECT+LOGOUT, p95 ms".into(),
        p(l0, 95.0),
        p(l1, 95.0),
        false,
        2,
    ));
    let [f0, f1] = &mut figures.fetch;
    rows.push((
        "FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE), median ms".to_string(),
        med(f0),
        med(f1),
        false,
        1,
    ));
    let [s0, s1] = &mut figures.search;
    rows.push((
        format!("SEARCH TEXT {RARE_WORD}, median ms"),
        med(s0),
        med(s1),
        false,
        1,
    ));
    let c = options.clients;
    let [r0, r1] = &mut figures.mixed_rate;
    rows.push((
        format!("mixed, {c} clients: commands/s (median of rounds)"),
        med(r0),
        med(r1),
        true,
        0,
    ));
    let [m0, m1] = &mut figures.mixed_latency;
    rows.push((
        format!("mixed, {c} clients: median latency ms"),
        med(m0),
        med(m1),
        false,
        2,
    ));
    rows.push((
        format!("mixed, {c} clients: p99 latency ms"),
        p(m0, 99.0),
        p(m1, 99.0),
        false,
        2,
    ));
    let idle = figures.idle;
    let get = |f: fn(&IdleMemory) -> f64| [idle[0].as_ref().map(f), idle[1].as_ref().map(f)];
    let k = options.idle;
    let base = get(|m| m.baseline_rss as f64);
    rows.push((
        "RSS before IDLE connections, KiB".into(),
        base[0],
        base[1],
        false,
        0,
    ));
    let peak = get(|m| m.peak_rss as f64);
    rows.push((
        format!("peak RSS with {k} IDLE connections, KiB"),
        peak[0],
        peak[1],
        false,
        0,
    ));
    let per =
        get(|m| (m.peak_rss.saturating_sub(m.baseline_rss)) as f64 / m.connections.max(1) as f64);
    rows.push((
        "RSS per IDLE connection, KiB".into(),
        per[0],
        per[1],
        false,
        1,
    ));
    let per_pss =
        get(|m| (m.pss.saturating_sub(m.baseline_pss)) as f64 / m.connections.max(1) as f64);
    rows.push((
        "PSS per IDLE connection, KiB".into(),
        per_pss[0],
        per_pss[1],
        false,
        1,
    ));

    let mut table =
        String::from("| measurement | postern-mda | Dovecot | ratio |\n|---|---:|---:|---:|\n");
    for (label, a, b, higher, digits) in rows {
        writeln!(
            table,
            "| {label} | {} | {} | {} |",
            fmt(a, digits),
            fmt(b, digits),
            ratio(a, b, higher)
        )
        .unwrap();
    }
    table.push_str(
        "\nratio: Dovecot time / postern-mda time, Dovecot memory / postern-mda memory, \
         postern-mda rate / Dovecot rate (> 1: postern-mda better). \
         Dovecot memory is the sum over its master and all descendants (RSS counts shared \
         pages once per process; PSS splits them).\n",
    );
    table
}

/// The generated INBOX: the corpus samples with varied senders, subjects, dates and flags,
/// stored as Dovecot's LDA/LMTP would (LF line ends, `,S=`/`,W=` sizes, flags after `:2,`).
mod mailbox {
    use std::io::Write as _;
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use postern_tests::corpus;

    use super::SplitMix;

    /// One file in `cur/`; `mtime` (Unix seconds) is its INTERNALDATE.
    pub struct File {
        pub name: String,
        pub data: Vec<u8>,
        pub mtime: u64,
    }

    pub struct Mailbox {
        pub files: Vec<File>,
        /// Messages with `\Seen`.
        pub seen: usize,
        /// Messages containing the rare word.
        pub rare: usize,
    }

    const NAMES: [&str; 12] = [
        "Alice Archer",
        "Bruno Bauer",
        "Chloé Dubois",
        "Dmitri Ivanov",
        "Eva Nowak",
        "Farid Haddad",
        "Grace Hopper",
        "Hiro Tanaka",
        "Ines Costa",
        "Jonas Berg",
        "Kofi Mensah",
        "Lena Vogel",
    ];
    const DOMAINS: [&str; 5] = [
        "example.com",
        "lists.example.net",
        "mail.example.org",
        "corp.example",
        "shop.example",
    ];
    const TOPICS: [&str; 10] = [
        "invoice",
        "meeting notes",
        "Re: lunch on Friday",
        "quarterly report",
        "build failed",
        "Fwd: travel plans",
        "newsletter",
        "password reset",
        "Re: Re: the proposal",
        "photos",
    ];
    /// 2023-11-14, and one message every ~37 s after it.
    const FIRST: u64 = 1_700_000_000;

    pub fn generate(count: usize, rare_word: &str) -> Mailbox {
        let samples = corpus::corpus("someone@example.com", 0);
        // The 64 KiB attachment and the long lines are rarer than short text.
        let schedule: Vec<&corpus::Sample> = samples
            .iter()
            .flat_map(|s| {
                let weight = match s.name {
                    "multipart-attachments" | "very-long-lines" => 1,
                    _ => 4,
                };
                std::iter::repeat_n(s, weight)
            })
            .collect();
        let mut rng = SplitMix(0x5eed);
        let mut mailbox = Mailbox {
            files: Vec::with_capacity(count),
            seen: 0,
            rare: 0,
        };
        for n in 0..count as u64 {
            let sample = schedule[rng.below(schedule.len() as u64) as usize];
            let text = String::from_utf8_lossy(&sample.data).replace("\r\n", "\n");
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            let secs = FIRST + n * 37 + rng.below(30);
            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
            let domain = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
            let local = name.split(' ').next().unwrap_or("x").to_lowercase();
            let topic = TOPICS[rng.below(TOPICS.len() as u64) as usize];
            let mut message = String::with_capacity(text.len() + 200);
            for line in head.lines() {
                let header = line.split(':').next().unwrap_or("");
                match header {
                    "From" => message.push_str(&format!("From: {name} <{local}@{domain}>")),
                    "Subject" => {
                        let old = line.trim_start_matches("Subject:").trim();
                        message.push_str(&format!("Subject: {topic} #{} ({old})", n + 1));
                    }
                    "Date" => message.push_str(&format!("Date: {}", rfc5322_date(secs))),
                    "Message-ID" => {
                        message.push_str(&format!("Message-ID: <{secs}.{n}@{domain}>"));
                    }
                    _ => message.push_str(line),
                }
                message.push('\n');
            }
            message.push('\n');
            // Only in single-part bodies, where every SEARCH TEXT must find it.
            let rare = !text.contains("multipart/") && rng.below(100) < 3;
            if rare {
                message.push_str(&format!("Spoken {rare_word}, as usual.\n"));
                mailbox.rare += 1;
            }
            message.push_str(body);
            let flags = match rng.below(100) {
                0..3 => "FS",
                3..10 => "RS",
                10..75 => "S",
                _ => "",
            };
            if flags.contains('S') {
                mailbox.seen += 1;
            }
            let data = message.into_bytes();
            let vsize = data.len() + data.iter().filter(|b| **b == b'\n').count();
            mailbox.files.push(File {
                name: format!(
                    "{secs}.M{}P4242Q{}.bench.example,S={},W={vsize}:2,{flags}",
                    rng.below(1_000_000),
                    n + 1,
                    data.len()
                ),
                data,
                mtime: secs,
            });
        }
        mailbox
    }

    /// Writes `files` into `maildir/cur` (creating `cur`, `new`, `tmp`).
    pub fn write(maildir: &Path, files: &[File]) {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        for file in files {
            let mut out = std::fs::File::create(maildir.join("cur").join(&file.name)).unwrap();
            out.write_all(&file.data).unwrap();
            out.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(file.mtime))
                .unwrap();
        }
    }

    /// `Tue, 14 Nov 2023 22:13:20 +0000` for Unix seconds.
    fn rfc5322_date(secs: u64) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let days = secs / 86_400;
        let rest = secs % 86_400;
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
            DAYS[(days % 7) as usize],
            MONTHS[(month - 1) as usize],
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn dates() {
            assert_eq!(
                super::rfc5322_date(1_700_000_000),
                "Tue, 14 Nov 2023 22:13:20 +0000"
            );
            assert_eq!(super::rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        }
    }
}
