//! taskhook's benchmark harness (issue 7): one command, one side-by-side table.
//!
//! ```sh
//! cargo bench --bench throughput            # the full run behind docs/benchmarks.md
//! cargo test --bench throughput -- --quick  # a few seconds, debug build: the CI smoke run
//! ```
//!
//! 1. **Throughput and latency** at 1 and 32 keep-alive connections, ~1 KB assignment callbacks
//!    with unique SIDs: the floor (a bare hyper server in this process that reads the body and
//!    answers `200 {}`), taskhook capture with `synchronous=FULL` (the default) and `NORMAL`,
//!    the store writer driven directly (no HTTP: capture's ceiling), and forward mode
//!    (taskhook in front of the floor). After each taskhook run every
//!    acknowledged request must be in the database, counted both while the server still runs
//!    and after it stopped; any difference, or any failed request, makes the exit status 1.
//! 2. **The inspector at scale**: a database bulk-seeded with realistic traffic (1,000,000
//!    requests), the time `App::build` takes on it, then the real `taskhook serve` binary on it:
//!    p50/p99 of the list page, a TaskSid filter, full-text searches, a detail page and
//!    `/api/requests`, its resident memory (also after capturing into that database), and the
//!    database size per request.
//!
//! Flags: `--quick`, `--secs S` (measured seconds per run), `--warmup S`, `--rows N`,
//! `--reps N` (inspector requests per endpoint), `--only throughput|inspector`,
//! `--dir PATH` (where the temporary databases go; default the system temp dir), `--keep`
//! (keep the seeded database), `--db PATH` (time the inspector on a kept database).
//! Targets are printed next to the numbers and never asserted.

mod callbacks;
mod load;
mod seed;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskhook::capture::forward::Forwarder;
use taskhook::config::Config;
use taskhook::inspector::guard::InspectorToken;
use taskhook::startup::App;
use taskhook::store::{Store, StoreOptions, SyncMode};

use load::{Callbacks, Getter, LoadResult, quantile};

const TOKEN: &str = "bench-token-0123456789abcdef";

struct Opts {
    quick: bool,
    warmup: Duration,
    measure: Duration,
    rows: u64,
    reps: usize,
    throughput: bool,
    inspector: bool,
    dir: Option<PathBuf>,
    /// Keep the seeded database (and print where it is) for poking at it afterwards.
    keep: bool,
    /// Time the inspector on this already seeded database instead of seeding one.
    db: Option<PathBuf>,
}

impl Opts {
    fn parse() -> Result<Self, String> {
        let mut args = std::env::args().skip(1);
        let mut opts = Opts {
            quick: false,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(5),
            rows: 1_000_000,
            reps: 200,
            throughput: true,
            inspector: true,
            dir: None,
            keep: false,
            db: None,
        };
        let (mut secs, mut warmup, mut rows, mut reps) = (None, None, None, None);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => opts.quick = true,
                "--keep" => opts.keep = true,
                "--db" => opts.db = Some(PathBuf::from(value("--db")?)),
                "--secs" => secs = Some(value("--secs")?),
                "--warmup" => warmup = Some(value("--warmup")?),
                "--rows" => rows = Some(value("--rows")?),
                "--reps" => reps = Some(value("--reps")?),
                "--dir" => opts.dir = Some(PathBuf::from(value("--dir")?)),
                "--only" => match value("--only")?.as_str() {
                    "throughput" => opts.inspector = false,
                    "inspector" => opts.throughput = false,
                    other => return Err(format!("--only throughput|inspector, not {other}")),
                },
                // cargo bench passes --bench to every bench binary.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if opts.quick {
            opts.warmup = Duration::from_millis(50);
            opts.measure = Duration::from_millis(250);
            opts.rows = 10_000;
            opts.reps = 5;
        }
        let seconds = |s: String| {
            s.parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("not a number of seconds: {s}"))
        };
        if let Some(s) = secs {
            opts.measure = seconds(s)?;
        }
        if let Some(s) = warmup {
            opts.warmup = seconds(s)?;
        }
        if let Some(n) = rows {
            opts.rows = n.parse().map_err(|_| format!("--rows {n}"))?;
        }
        if let Some(n) = reps {
            opts.reps = n.parse().map_err(|_| format!("--reps {n}"))?;
        }
        Ok(opts)
    }

    fn tempdir(&self) -> tempfile::TempDir {
        match &self.dir {
            Some(dir) => tempfile::tempdir_in(dir),
            None => tempfile::tempdir(),
        }
        .expect("a temporary directory")
    }
}

fn main() -> ExitCode {
    let opts = match Opts::parse() {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("throughput: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "# taskhook benchmark{}",
        if opts.quick {
            " (--quick smoke run: numbers are not comparable)"
        } else {
            ""
        }
    );
    println!();
    print_machine(&opts);
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("client runtime");
    let mut ok = true;
    let mut summary = Summary::default();
    if opts.throughput {
        ok &= throughput(&opts, &client, &mut summary);
    }
    if opts.inspector {
        ok &= inspector(&opts, &client, &mut summary);
    }
    print_targets(&opts, &summary);
    println!();
    println!("load average at the end: {}", load_average());
    if ok {
        println!("result: OK (every acknowledged request was stored)");
        ExitCode::SUCCESS
    } else {
        println!("result: FAILED (see above)");
        ExitCode::FAILURE
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn load_average() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_machine(opts: &Opts) {
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let dir = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    println!(
        "machine: {cores} cores ({cpu}), {:.1} GiB RAM, Linux {}; databases in {}",
        mem_kib as f64 / 1024.0 / 1024.0,
        read("/proc/sys/kernel/osrelease").trim(),
        dir.display()
    );
    println!("load average at the start: {}", load_average());
    match fsync_latency(opts, if opts.quick { 20 } else { 200 }) {
        Ok((p50, p99)) => println!(
            "disk: 4 KiB write + fsync in that directory: p50 {}, p99 {} (the floor under every synchronous=FULL commit)",
            micros(p50),
            micros(p99)
        ),
        Err(e) => println!("disk: fsync probe failed: {e}"),
    }
    println!(
        "runs: {:.1} s warm-up + {:.1} s measured per row; the load generator (hyper client, 2 threads) shares the cores with the servers",
        opts.warmup.as_secs_f64(),
        opts.measure.as_secs_f64()
    );
    println!();
}

/// p50 and p99 (µs) of appending 4 KiB to a file and fsyncing it, `n` times.
fn fsync_latency(opts: &Opts, n: usize) -> std::io::Result<(f64, f64)> {
    use std::io::Write;
    let dir = opts.tempdir();
    let mut file = std::fs::File::create(dir.path().join("fsync-probe"))?;
    let page = [0x5au8; 4096];
    let mut ns = Vec::with_capacity(n);
    for _ in 0..n {
        file.write_all(&page)?;
        let started = Instant::now();
        file.sync_all()?;
        ns.push(started.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    Ok((
        quantile(&ns, 0.5) as f64 / 1000.0,
        quantile(&ns, 0.99) as f64 / 1000.0,
    ))
}

/// Numbers the target table needs.
#[derive(Default)]
struct Summary {
    floor: [Option<(f64, f64)>; 2],
    full: [Option<(f64, f64)>; 2],
    forward: [Option<(f64, f64)>; 2],
    list_p50: Option<f64>,
    sid_p50: Option<f64>,
    search_p50: Vec<(String, f64)>,
    rss_mib: Option<f64>,
    hwm_mib: Option<f64>,
    rss_loaded_mib: Option<(f64, f64)>,
    startup_ms: Option<f64>,
    visible: Option<(f64, f64)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Floor,
    Capture(SyncMode),
    /// The store writer driven directly (no HTTP): the ceiling for capture.
    Writer(SyncMode),
    Forward,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Floor => "floor: bare hyper, 200 {}",
            Target::Capture(SyncMode::Full) => "taskhook capture, sync=FULL",
            Target::Capture(SyncMode::Normal) => "taskhook capture, sync=NORMAL",
            Target::Writer(SyncMode::Full) => "store writer alone, no HTTP, FULL",
            Target::Writer(SyncMode::Normal) => "store writer alone, no HTTP, NORMAL",
            Target::Forward => "taskhook --forward → floor (FULL)",
        }
    }
}

/// Rows counted in a taskhook database: requests, reservations.
fn count_rows(db: &Path) -> Result<(u64, u64), String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
    let count = |table: &str| -> Result<u64, String> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(|e| e.to_string())
    };
    Ok((count("requests")?, count("reservations")?))
}

struct Check {
    stored_live: u64,
    stored_after: u64,
    reservations: u64,
    /// Stored → visible: acknowledgement to the row's arrival on the live stream.
    visible: Option<Visible>,
}

/// What the live-stream watcher saw during a capture run.
struct Visible {
    p50_ms: f64,
    p99_ms: f64,
    seen: usize,
    acked: usize,
}

fn throughput(opts: &Opts, client: &tokio::runtime::Runtime, summary: &mut Summary) -> bool {
    // The floor runs for the whole section on its own runtime, like a separate process would.
    let floor_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-floor")
        .enable_all()
        .build()
        .expect("floor runtime");
    let floor_listener = floor_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the floor");
    let floor_addr = floor_listener.local_addr().expect("floor address");
    floor_rt.spawn(load::floor(floor_listener));

    let body_len = Callbacks::assignments(0).body_len();
    println!(
        "## Capture and forward: {body_len}-byte form-encoded assignment callbacks, unique SIDs, 1 request in flight per connection"
    );
    println!();
    println!(
        "| scenario | conns | req/s | vs floor | p50 | p99 | p50 added to floor | acked | stored (live / after stop) | check |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut ok = true;
    let mut visible_line = None;
    let mut floor: [Option<LoadResult>; 2] = [None, None];
    let mut run_number = 0u64;
    for target in [
        Target::Floor,
        Target::Capture(SyncMode::Full),
        Target::Capture(SyncMode::Normal),
        Target::Writer(SyncMode::Full),
        Target::Forward,
    ] {
        for (slot, conns) in [1usize, 32].into_iter().enumerate() {
            run_number += 1;
            // The 32-connection capture run also measures stored → visible.
            let watch = target == Target::Capture(SyncMode::Full) && conns == 32;
            let callbacks = Arc::new(if watch {
                Callbacks::logged_assignments(run_number << 32)
            } else {
                Callbacks::assignments(run_number << 32)
            });
            let (result, check) = match target {
                Target::Floor => (
                    client.block_on(load::run(
                        floor_addr,
                        conns,
                        callbacks,
                        opts.warmup,
                        opts.measure,
                    )),
                    None,
                ),
                Target::Capture(sync) => {
                    match taskhook_run(opts, client, sync, None, conns, callbacks) {
                        Ok((r, c)) => (r, Some(c)),
                        Err(e) => {
                            println!("| {} | {conns} | setup failed: {e} |", target.label());
                            ok = false;
                            continue;
                        }
                    }
                }
                Target::Writer(sync) => match writer_run(opts, client, sync, conns, callbacks) {
                    Ok((r, c)) => (r, Some(c)),
                    Err(e) => {
                        println!("| {} | {conns} | setup failed: {e} |", target.label());
                        ok = false;
                        continue;
                    }
                },
                Target::Forward => match taskhook_run(
                    opts,
                    client,
                    SyncMode::Full,
                    Some(floor_addr),
                    conns,
                    callbacks,
                ) {
                    Ok((r, c)) => (r, Some(c)),
                    Err(e) => {
                        println!("| {} | {conns} | setup failed: {e} |", target.label());
                        ok = false;
                        continue;
                    }
                },
            };
            let reference = floor[slot].as_ref();
            let ratio = reference.map_or(1.0, |f| result.rps() / f.rps());
            let p50 = result.quantile_us(0.5);
            let added = reference.map_or(0.0, |f| p50 - f.quantile_us(0.5));
            let (stored, verdict) = match &check {
                None => (
                    "—".to_owned(),
                    if result.failed == 0 {
                        "ok".to_owned()
                    } else {
                        format!("{} failed", result.failed)
                    },
                ),
                Some(c) => {
                    let good = result.failed == 0
                        && c.stored_live == result.acked
                        && c.stored_after == result.acked
                        && c.reservations == result.acked;
                    if let Some(v) = &c.visible {
                        visible_line = Some(format!(
                            "stored → visible on the live stream (ack to SSE row), {conns} connections: p50 {}, p99 {} ({} of {} acknowledged rows seen)",
                            millis(v.p50_ms),
                            millis(v.p99_ms),
                            v.seen,
                            v.acked
                        ));
                        summary.visible = Some((v.p50_ms, v.p99_ms));
                    }
                    (
                        format!("{} / {}", c.stored_live, c.stored_after),
                        if good {
                            "ok".to_owned()
                        } else {
                            format!(
                                "MISMATCH ({} failed, {} reservations)",
                                result.failed, c.reservations
                            )
                        },
                    )
                }
            };
            if verdict != "ok" {
                ok = false;
            }
            println!(
                "| {} | {conns} | {:.0} | {} | {} | {} | {} | {} | {stored} | {verdict} |",
                target.label(),
                result.rps(),
                if target == Target::Floor {
                    "1.00".to_owned()
                } else {
                    format!("{ratio:.2}")
                },
                micros(p50),
                micros(result.quantile_us(0.99)),
                if target == Target::Floor {
                    "—".to_owned()
                } else {
                    format!("+{}", micros(added))
                },
                result.acked,
            );
            if let Some(e) = &result.first_error {
                println!("|  | | first failure: {} |", e.replace('|', "/"));
            }
            let point = Some((result.rps(), p50));
            match target {
                Target::Floor => summary.floor[slot] = point,
                Target::Capture(SyncMode::Full) => summary.full[slot] = point,
                Target::Forward => summary.forward[slot] = point,
                Target::Capture(SyncMode::Normal) | Target::Writer(_) => {}
            }
            if target == Target::Floor {
                floor[slot] = Some(result);
            }
        }
    }
    println!();
    if let Some(line) = visible_line {
        println!("{line}");
        println!();
    }
    drop(floor_rt);
    ok
}

fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn millis(d: f64) -> String {
    format!("{d:.2} ms")
}

/// One taskhook in this process on its own runtime (what `taskhook serve` builds), loaded by
/// `conns` connections; then the acknowledged requests are counted in the database.
fn taskhook_run(
    opts: &Opts,
    client: &tokio::runtime::Runtime,
    sync: SyncMode,
    forward: Option<SocketAddr>,
    conns: usize,
    callbacks: Arc<Callbacks>,
) -> Result<(LoadResult, Check), String> {
    let dir = opts.tempdir();
    let db = dir.path().join("taskhook.db");
    let mut config = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), db.clone());
    config.inspector.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.inspector.token = InspectorToken::fixed(TOKEN).map_err(|e| e.to_string())?;
    config.store.sync = sync;
    if let Some(floor) = forward {
        let url = reqwest::Url::parse(&format!("http://{floor}")).map_err(|e| e.to_string())?;
        config.capture.forward =
            Some(Forwarder::new(&url, false, Duration::from_secs(15)).map_err(|e| e.to_string())?);
    }
    // As in main.rs: a multi-threaded runtime with one worker per core.
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let app = rt
        .block_on(App::build(config))
        .map_err(|e| format!("{e:#}"))?;
    let addr = app.capture_addr();
    let app_inspector = app.inspector_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    // An inspector open on the live stream during the whole run, as a developer would have.
    let until = Instant::now() + opts.warmup + opts.measure + Duration::from_millis(500);
    let watcher = client.spawn(load::watch_live(app_inspector, TOKEN.to_owned(), until));
    let result = client.block_on(load::run(
        addr,
        conns,
        callbacks.clone(),
        opts.warmup,
        opts.measure,
    ));
    // Every client has its answer, so every acknowledged row must already be committed.
    let (stored_live, _) = count_rows(&db)?;
    let acks = callbacks.take_acks();
    let visible = if acks.is_empty() {
        watcher.abort();
        None
    } else {
        let seen = client.block_on(watcher).map_err(|e| e.to_string())??;
        let mut lags: Vec<u64> = acks
            .iter()
            .filter_map(|(task, acked)| {
                let at = seen.get(&callbacks::task_sid(*task))?;
                Some(at.saturating_duration_since(*acked).as_nanos() as u64)
            })
            .collect();
        lags.sort_unstable();
        Some(Visible {
            p50_ms: quantile(&lags, 0.5) as f64 / 1e6,
            p99_ms: quantile(&lags, 0.99) as f64 / 1e6,
            seen: lags.len(),
            acked: acks.len(),
        })
    };
    let _ = stop.send(());
    rt.block_on(server).map_err(|e| e.to_string())?;
    drop(rt);
    let (stored_after, reservations) = count_rows(&db)?;
    Ok((
        result,
        Check {
            stored_live,
            stored_after,
            reservations,
            visible,
        },
    ))
}

/// The store writer alone on a fresh database: `conns` tasks each insert a callback's row and
/// wait for its commit, as capture does, without HTTP.
fn writer_run(
    opts: &Opts,
    client: &tokio::runtime::Runtime,
    sync: SyncMode,
    conns: usize,
    callbacks: Arc<Callbacks>,
) -> Result<(LoadResult, Check), String> {
    let dir = opts.tempdir();
    let db = dir.path().join("taskhook.db");
    let options = StoreOptions {
        sync,
        ..StoreOptions::default()
    };
    let store = Store::open(&db, options).map_err(|e| e.to_string())?;
    let (writer, thread) = store.start_writer().map_err(|e| e.to_string())?;
    let result = client.block_on(load::run_writer(
        writer,
        conns,
        callbacks,
        opts.warmup,
        opts.measure,
    ));
    let (stored_live, _) = count_rows(&db)?;
    client.block_on(thread.join());
    drop(store);
    let (stored_after, reservations) = count_rows(&db)?;
    Ok((
        result,
        Check {
            stored_live,
            stored_after,
            reservations,
            visible: None,
        },
    ))
}

/// p50 and p99 of `samples` in milliseconds.
fn p50_p99(samples: &mut [Duration]) -> (f64, f64) {
    let mut ns: Vec<u64> = samples.iter().map(|d| d.as_nanos() as u64).collect();
    ns.sort_unstable();
    (
        quantile(&ns, 0.5) as f64 / 1e6,
        quantile(&ns, 0.99) as f64 / 1e6,
    )
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// VmRSS and VmHWM of a process, in MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = read(&format!("/proc/{pid}/status"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The real binary, killed when dropped.
struct Server {
    child: std::process::Child,
    capture: SocketAddr,
    inspector: SocketAddr,
    ready: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_binary(db: &Path) -> Result<Server, String> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
            "--db",
        ])
        .arg(db)
        .env("TASKHOOK_INSPECTOR_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", env!("CARGO_BIN_EXE_taskhook")))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut server = Server {
        child,
        capture: SocketAddr::from(([127, 0, 0, 1], 0)),
        inspector: SocketAddr::from(([127, 0, 0, 1], 0)),
        ready: Duration::ZERO,
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(addr) = line.strip_prefix("capture: http://") {
            server.capture = addr
                .trim_end_matches('/')
                .parse()
                .map_err(|_| format!("bad capture line {line}"))?;
        }
        if let Some(url) = line.strip_prefix("inspector: http://") {
            let addr = url.split('/').next().unwrap_or_default();
            server.inspector = addr
                .parse()
                .map_err(|_| format!("bad inspector line {line}"))?;
            server.ready = started.elapsed();
            return Ok(server);
        }
    }
    Err("taskhook serve exited before printing its addresses".into())
}

fn inspector(opts: &Opts, client: &tokio::runtime::Runtime, summary: &mut Summary) -> bool {
    let dir = opts.tempdir();
    let (db, seeded) = match &opts.db {
        Some(db) => (db.clone(), seed::existing(db)),
        None => {
            let db = dir.path().join("taskhook.db");
            let seeded = seed::seed(&db, opts.rows);
            (db, seeded)
        }
    };
    let seeded = match seeded {
        Ok(s) => s,
        Err(e) => {
            println!("seeding failed: {e}");
            return false;
        }
    };
    let db_bytes = file_size(&db) + file_size(&db.with_extension("db-wal"));
    println!(
        "## Inspector at {} requests ({} tasks × 6 callbacks over 7 days, 50 workers)",
        seeded.rows, seeded.tasks
    );
    println!();
    let seeding = match &opts.db {
        Some(db) => format!("reusing {}", db.display()),
        None => format!(
            "seeded in {:.1} s in one transaction (rows and their full-text entries {:.1} s, then the SID indexes and the commit {:.1} s)",
            seeded.elapsed.as_secs_f64(),
            seeded.rows_elapsed.as_secs_f64(),
            seeded.index_elapsed.as_secs_f64(),
        ),
    };
    println!(
        "{seeding}; database {:.1} MiB = {:.0} bytes per request (row, indexes, full-text index, reservations)",
        db_bytes as f64 / 1048576.0,
        db_bytes as f64 / seeded.rows.max(1) as f64
    );

    // Startup: App::build (open, migrate, start the writer, bind) on the seeded file.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut startups = Vec::new();
    for _ in 0..5 {
        let mut config = Config::new(SocketAddr::from(([127, 0, 0, 1], 0)), db.clone());
        config.inspector.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let took = rt.block_on(async {
            let started = Instant::now();
            let app = App::build(config).await;
            let took = started.elapsed();
            drop(app);
            took
        });
        startups.push(took);
    }
    drop(rt);
    let first = startups[0].as_secs_f64() * 1000.0;
    startups.sort();
    let startup_ms = startups[startups.len() / 2].as_secs_f64() * 1000.0;
    summary.startup_ms = Some(startup_ms);

    // The real binary, started three times (the last one stays up for the rest).
    let mut readies = Vec::new();
    let mut server = None;
    for _ in 0..3 {
        drop(server.take());
        match start_binary(&db) {
            Ok(s) => {
                readies.push(s.ready);
                server = Some(s);
            }
            Err(e) => {
                println!("{e}");
                return false;
            }
        }
    }
    let Some(server) = server else {
        return false;
    };
    readies.sort();
    let pid = server.child.id();
    let (idle_rss, _) = rss_mib(pid);
    println!(
        "startup: App::build → listening {} (median of 5; the first {}); `taskhook serve` exec → addresses printed {} (median of 3); RSS when idle {idle_rss:.1} MiB",
        millis(startup_ms),
        millis(first),
        millis(readies[1].as_secs_f64() * 1000.0),
    );
    println!();

    let tasks = seeded.tasks.max(1);
    let pick = |k: usize| callbacks::mix(k as u64 ^ 0xbe7c) % tasks;
    let rows = seeded.rows.max(1);
    type PathFn<'a> = Box<dyn Fn(usize) -> String + 'a>;
    let endpoints: Vec<(&str, PathFn)> = vec![
        ("list page `/` (100 rows)", Box::new(|_| "/".to_owned())),
        (
            "TaskSid filter `/?task_sid=WT…`",
            Box::new(|k| format!("/?task_sid={}", callbacks::task_sid(pick(k)))),
        ),
        (
            "search, a caller's number `/api/requests?q=+1628…` (~20 hits)",
            Box::new(|k| format!("/api/requests?q=%2B{}", &callbacks::caller(pick(k))[1..])),
        ),
        (
            "search, a worker's first name `/api/requests?q=Chiara` (10% of rows)",
            Box::new(|_| "/api/requests?q=Chiara".to_owned()),
        ),
        (
            "search, in every row `/api/requests?q=inbound`",
            Box::new(|_| "/api/requests?q=inbound".to_owned()),
        ),
        (
            "search with a filter `/api/requests?q=inbound&kind=assignment`",
            Box::new(|_| "/api/requests?q=inbound&kind=assignment".to_owned()),
        ),
        (
            "detail page `/requests/{id}`",
            Box::new(|k| format!("/requests/{}", 1 + callbacks::mix(k as u64) % rows)),
        ),
        (
            "`/api/requests` (50 rows)",
            Box::new(|_| "/api/requests".to_owned()),
        ),
    ];
    println!("| endpoint (Bearer token, one keep-alive connection) | p50 | p99 | requests |");
    println!("|---|---:|---:|---:|");
    let mut ok = true;
    for (name, path) in &endpoints {
        let result: Result<Vec<Duration>, String> = client.block_on(async {
            let mut getter = Getter::new(server.inspector, TOKEN).await?;
            for k in 0..3 {
                getter.get(&path(1_000_000 + k)).await?;
            }
            let budget = Instant::now() + Duration::from_secs(if opts.quick { 2 } else { 20 });
            let mut times = Vec::with_capacity(opts.reps);
            for k in 0..opts.reps {
                let (took, _) = getter.get(&path(k)).await?;
                times.push(took);
                if Instant::now() > budget && times.len() >= 10.min(opts.reps) {
                    break;
                }
            }
            Ok(times)
        });
        match result {
            Ok(mut times) => {
                let (p50, p99) = p50_p99(&mut times);
                println!(
                    "| {name} | {} | {} | {} |",
                    millis(p50),
                    millis(p99),
                    times.len()
                );
                if name.starts_with("list page") {
                    summary.list_p50 = Some(p50);
                } else if name.starts_with("TaskSid") {
                    summary.sid_p50 = Some(p50);
                } else if name.starts_with("search") {
                    let what = name.split('`').next().unwrap_or(name).trim_end().to_owned();
                    summary.search_p50.push((what, p50));
                }
            }
            Err(e) => {
                println!("| {name} | FAILED: {} | | |", e.replace('|', "/"));
                ok = false;
            }
        }
    }
    let (rss, hwm) = rss_mib(pid);
    summary.rss_mib = Some(rss);
    summary.hwm_mib = Some(hwm);
    println!();
    println!(
        "`taskhook serve` memory after these requests: VmRSS {rss:.1} MiB, peak (VmHWM) {hwm:.1} MiB"
    );

    // The same process keeps recording on top of the big database (synchronous=FULL).
    let before = count_rows(&db).map(|(n, _)| n);
    let callbacks = Arc::new(Callbacks::assignments(1 << 48));
    let load = client.block_on(load::run(
        server.capture,
        32,
        callbacks,
        opts.warmup,
        opts.measure,
    ));
    let after = count_rows(&db).map(|(n, _)| n);
    let (rss, hwm) = rss_mib(pid);
    let stored = match (before, after) {
        (Ok(b), Ok(a)) => a - b,
        _ => 0,
    };
    let good = load.failed == 0 && stored == load.acked;
    ok &= good;
    println!(
        "capture into this database, 32 connections, sync=FULL: {:.0} req/s, p50 {}, p99 {}; {} acked, {stored} stored{}; then VmRSS {rss:.1} MiB, peak {hwm:.1} MiB",
        load.rps(),
        micros(load.quantile_us(0.5)),
        micros(load.quantile_us(0.99)),
        load.acked,
        if good { "" } else { " — MISMATCH" },
    );
    summary.rss_loaded_mib = Some((rss, hwm));
    println!();
    drop(server);
    if opts.keep && opts.db.is_none() {
        println!(
            "kept the seeded database: {}",
            dir.keep().join("taskhook.db").display()
        );
    }
    ok
}

fn print_targets(opts: &Opts, s: &Summary) {
    println!(
        "## Targets (tracked, not asserted){}",
        if opts.quick {
            " — quick run, not comparable"
        } else {
            ""
        }
    );
    println!();
    println!("| target | goal | measured | met |");
    println!("|---|---|---|---|");
    let row = |name: &str, goal: &str, value: Option<(String, bool)>| match value {
        Some((measured, met)) => println!(
            "| {name} | {goal} | {measured} | {} |",
            if met { "yes" } else { "**no**" }
        ),
        None => println!("| {name} | {goal} | not run | |"),
    };
    let ratio = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| Some(a?.0 / b?.0);
    row(
        "capture throughput, 32 conns, sync=FULL",
        "≥ 50% of floor",
        ratio(s.full[1], s.floor[1]).map(|r| (format!("{:.0}%", r * 100.0), r >= 0.5)),
    );
    row(
        "added p50 latency, 1 conn, sync=FULL",
        "≤ 100 µs",
        s.full[0]
            .zip(s.floor[0])
            .map(|(t, f)| t.1 - f.1)
            .map(|d| (format!("+{}", micros(d)), d <= 100.0)),
    );
    row(
        "forward throughput, 32 conns",
        "≥ 40% of direct",
        ratio(s.forward[1], s.floor[1]).map(|r| (format!("{:.0}%", r * 100.0), r >= 0.4)),
    );
    row(
        "forward throughput, 1 conn",
        "≥ 40% of direct",
        ratio(s.forward[0], s.floor[0]).map(|r| (format!("{:.0}%", r * 100.0), r >= 0.4)),
    );
    row(
        "list page p50",
        "≤ 20 ms",
        s.list_p50.map(|v| (millis(v), v <= 20.0)),
    );
    row(
        "TaskSid filter p50",
        "≤ 20 ms",
        s.sid_p50.map(|v| (millis(v), v <= 20.0)),
    );
    row(
        "stored → visible on the live stream, 32 conns, sync=FULL",
        "p50 ≤ 5 ms, p99 ≤ 50 ms",
        s.visible.map(|(p50, p99)| {
            (
                format!("p50 {} / p99 {}", millis(p50), millis(p99)),
                p50 <= 5.0 && p99 <= 50.0,
            )
        }),
    );
    for (what, p50) in &s.search_p50 {
        row(
            &format!("{what} p50"),
            "≤ 20 ms",
            Some((millis(*p50), *p50 <= 20.0)),
        );
    }
    row(
        "RSS of `taskhook serve` after the inspector requests",
        "≤ 64 MiB",
        s.rss_mib
            .zip(s.hwm_mib)
            .map(|(rss, hwm)| (format!("{rss:.1} MiB (peak {hwm:.1})"), rss <= 64.0)),
    );
    row(
        "RSS of `taskhook serve` after capturing into that database too",
        "≤ 64 MiB",
        s.rss_loaded_mib
            .map(|(rss, hwm)| (format!("{rss:.1} MiB (peak {hwm:.1})"), rss <= 64.0)),
    );
    row(
        "startup (App::build) on the seeded database",
        "≤ 200 ms",
        s.startup_ms.map(|v| (millis(v), v <= 200.0)),
    );
}
