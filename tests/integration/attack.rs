//! Issue 19, the capture side: what anyone who has the tunnel URL can throw at the capture
//! port — sockets that never finish, bodies that add up — and what a real callback still gets.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::helpers::{assignment_params, first_status, spawn_app, spawn_app_with};

/// Opens `n` connections and writes `first` on each (nothing when empty).
async fn open(addr: std::net::SocketAddr, n: usize, first: &[u8]) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        if !first.is_empty() {
            socket.write_all(first).await.expect("write");
        }
        sockets.push(socket);
    }
    sockets
}

/// Writes one byte to every socket every 200 ms until dropped: a client that is slow, not dead.
fn trickle(mut sockets: Vec<TcpStream>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        loop {
            let mut closed = 0;
            for socket in &mut sockets {
                if socket.write_all(b"x").await.is_err() {
                    closed += 1;
                }
            }
            if closed == sockets.len() {
                return closed;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// How many of `sockets` the server has closed (a read returns end of file or an error).
async fn closed_by_server(sockets: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for socket in sockets {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(5), socket.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => closed += 1,
            _ => {}
        }
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_slow_bodies_and_idle_sockets_cannot_make_a_callback_wait() {
    // The defaults: 256 connection slots, a 10 s head deadline, a 30 s body deadline. Before
    // issue 19 every real callback waited ~29 s behind these sockets.
    let app = spawn_app().await;
    let mut idle = open(app.addr, 256, b"").await;
    let slow_head = open(
        app.addr,
        300,
        b"POST /assignment HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    )
    .await;
    let slow_body = open(
        app.addr,
        300,
        b"POST /assignment HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nTaskSid=",
    )
    .await;
    let trickling = [trickle(slow_head), trickle(slow_body)];
    // Let the server take them all in (856 sockets, 256 slots) before the real callback comes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        app.post_form("/assignment", &assignment_params()),
    )
    .await
    .expect("answered at all");
    let waited = started.elapsed();
    println!("a real callback behind 856 slow and idle sockets: answered in {waited:?}");
    assert_eq!(answer.status(), 200);
    assert!(
        waited < Duration::from_secs(1),
        "a real callback waited {waited:?} behind slow and idle sockets"
    );
    let stored = app.latest(5).await;
    assert!(
        stored
            .iter()
            .any(|r| r.summary.path == "/assignment" && r.summary.status == 200),
        "the callback is stored"
    );
    // Room was made by closing the stalest sockets — the idle ones went first.
    assert!(closed_by_server(&mut idle).await > 0, "idle sockets closed");
    for task in trickling {
        task.abort();
    }
    let _ = app.stop().await;
}

/// A raw request head declaring a `len`-byte form body.
fn head(len: usize) -> Vec<u8> {
    format!(
        "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes()
}

async fn read_response(socket: &mut TcpStream) -> String {
    read_response_within(socket, Duration::from_secs(5)).await
}

async fn read_response_within(socket: &mut TcpStream, wait: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    while !String::from_utf8_lossy(&out).contains("\r\n\r\n") {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), socket.read(&mut buf)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn bodies_past_the_in_flight_budget_get_503_with_retry_after_and_are_recorded() {
    const BODY: usize = 128 * 1024;
    let app = spawn_app_with(|c| {
        c.capture.max_body = BODY;
        c.capture.max_in_flight = 2 * BODY;
    })
    .await;
    // Two uploads that declare the largest body and send a little of it hold the budget.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut socket = TcpStream::connect(app.addr).await.unwrap();
        socket.write_all(&head(BODY)).await.unwrap();
        socket.write_all(&vec![b'a'; 1024]).await.unwrap();
        holders.push(socket);
    }
    // A third is refused at once, before its body is read — once the two are in (retried
    // until then; nothing else is in flight).
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let mut socket = TcpStream::connect(app.addr).await.unwrap();
        socket.write_all(&head(10)).await.unwrap();
        socket.write_all(b"EventType=").await.unwrap();
        let response = read_response(&mut socket).await;
        if response.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break response;
        }
    };
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("--max-in-flight"), "{refused}");
    let stored = app.latest(10).await;
    let row = stored
        .iter()
        .find(|r| r.summary.status == 503)
        .expect("the refusal is recorded");
    assert!(
        row.summary
            .error
            .as_deref()
            .unwrap_or("")
            .contains("--max-in-flight")
    );

    // The holders finish and are stored; the budget is given back and the next one fits.
    for socket in &mut holders {
        socket.write_all(&vec![b'b'; BODY - 1024]).await.unwrap();
        let response = read_response(socket).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let after = app
        .post_form("/events", &[("EventType", "task.created")])
        .await;
    assert_eq!(after.status(), 204);

    // A chunked body has no declared length: it takes from the budget as its chunks arrive.
    // Holders take 1.5 × BODY of the 2 × BODY budget, so the chunked body runs out at half
    // of --max-body.
    let mut holders = Vec::new();
    for len in [BODY, BODY / 2] {
        let mut holder = TcpStream::connect(app.addr).await.unwrap();
        holder.write_all(&head(len)).await.unwrap();
        holder.write_all(&vec![b'a'; 1024]).await.unwrap();
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut chunked = TcpStream::connect(app.addr).await.unwrap();
    chunked
        .write_all(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'c'; 16 * 1024];
    let mut response = String::new();
    for _ in 0..16 {
        let mut wire = format!("{:x}\r\n", chunk.len()).into_bytes();
        wire.extend_from_slice(&chunk);
        wire.extend_from_slice(b"\r\n");
        if chunked.write_all(&wire).await.is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), chunked.read(&mut buf)).await
            && n > 0
        {
            response = String::from_utf8_lossy(&buf[..n]).into_owned();
            break;
        }
    }
    assert!(response.starts_with("HTTP/1.1 503"), "{response:?}");
    drop(holders);
    let _ = app.stop().await;
}

/// Resident and peak memory of a process, in KiB, from /proc.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_bodies_cost_one_copy_each() {
    const N: usize = 256;
    const BODY: usize = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_taskhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--inspector",
            "127.0.0.1:0",
        ])
        .args([
            "--max-body",
            "2MiB",
            "--max-in-flight",
            "1GiB",
            "--sync",
            "normal",
        ])
        .arg("--db")
        .arg(dir.path().join("t.db"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn taskhook");
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("address line");
    let addr: std::net::SocketAddr = first
        .strip_prefix("capture: http://")
        .unwrap()
        .parse()
        .unwrap();
    // Warm up (first request, first batch), then take the idle footprint.
    let warm = crate::helpers::raw_exchange(addr, &[head(1), b"x".to_vec()].concat()).await;
    assert_eq!(first_status(&warm), 200);
    let (idle_kib, _) = memory_kib(pid);

    // All N bodies are in flight at once: every head and all but the last byte first, then the
    // last bytes, so the server holds them all before the first can be stored.
    let body = vec![b'a'; BODY];
    let mut sockets = Vec::with_capacity(N);
    for _ in 0..N {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket.write_all(&head(BODY)).await.unwrap();
        sockets.push(socket);
    }
    let mut writers = tokio::task::JoinSet::new();
    for mut socket in sockets {
        let body = body.clone();
        writers.spawn(async move {
            socket.write_all(&body[..BODY - 1]).await.unwrap();
            socket
        });
    }
    let mut sockets = Vec::new();
    while let Some(socket) = writers.join_next().await {
        sockets.push(socket.unwrap());
    }
    drop(body);
    let mut answers = tokio::task::JoinSet::new();
    for mut socket in sockets {
        answers.spawn(async move {
            socket.write_all(b"a").await.unwrap();
            // Storing 256 MiB takes a while in a debug build.
            read_response_within(&mut socket, Duration::from_secs(120)).await
        });
    }
    let mut ok = 0;
    while let Some(answer) = answers.join_next().await {
        let answer = answer.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            ok += 1;
        } else {
            println!("not stored: {answer:?}");
        }
    }
    assert_eq!(ok, N, "every body stored");
    let (_, peak_kib) = memory_kib(pid);
    let grew_mib = peak_kib.saturating_sub(idle_kib) as f64 / 1024.0;
    let bodies_mib = (N * BODY) as f64 / (1024.0 * 1024.0);
    println!(
        "in flight: {N} × {BODY} B = {bodies_mib:.0} MiB; idle RSS {:.1} MiB, peak {:.1} MiB, grew {grew_mib:.0} MiB ({:.2}×)",
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
        grew_mib / bodies_mib
    );
    assert!(
        grew_mib < 2.0 * bodies_mib,
        "RSS grew {grew_mib:.0} MiB for {bodies_mib:.0} MiB of bodies in flight"
    );
    let _ = child.kill().await;
}
