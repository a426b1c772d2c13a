use taskhook::taskrouter::status::Kind;

use crate::helpers::*;

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_its_first_bytes_are_still_recorded() {
    let app = spawn_app_with(|c| c.capture.max_body = 1024).await;
    let body = vec![b'x'; 5000];

    let response = app
        .client
        .post(app.url("/big"))
        .body(body.clone())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 413);
    let stored = app.latest(1).await.remove(0);
    assert!(stored.summary.body_truncated);
    assert_eq!(stored.body, &body[..1024]);
    assert!(stored.summary.body_size > 1024);
    assert!(
        stored
            .summary
            .error
            .as_deref()
            .unwrap()
            .contains("1024-byte limit")
    );
    assert_eq!(stored.summary.status, 413);
    assert_eq!(
        header_values(&stored.headers, "content-length"),
        [b"5000".as_slice()]
    );
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_limit_and_the_server_keeps_serving() {
    let app = spawn_app_with(|c| c.capture.max_body = 4096).await;
    let mut request =
        b"POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..64 {
        request.extend_from_slice(b"100\r\n");
        request.extend_from_slice(&[b'a'; 0x100]);
        request.extend_from_slice(b"\r\n");
    }
    // No terminating chunk: the body never ends on its own.

    let reply = raw_exchange(app.addr, &request).await;

    assert_eq!(first_status(&reply), 413);
    let stored = app.latest(1).await.remove(0);
    assert_eq!(stored.body.len(), 4096);
    assert!(stored.summary.body_truncated);
    let ok = app.post_form("/after", &[("still", "up")]).await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn broken_encodings_and_odd_bytes_are_stored_exactly_without_a_panic() {
    let app = spawn_app().await;
    let bodies: Vec<&[u8]> = vec![
        b"\xc3\x28=\xc0\xaf&TaskSid=\xff",
        b"a\0b=\0&EventType=task.created\0",
        b"%zz=%&&&=a=b=c&+=%20",
        b"TaskSid=WTa&TaskSid=WTb&TaskSid=",
        b"",
        b"{\"deep\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ];

    for body in &bodies {
        let response = app
            .client
            .post(app.url("/odd"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{:?}", response.status());
    }

    let stored = app.latest(bodies.len()).await;
    let stored_bodies: Vec<&[u8]> = stored.iter().rev().map(|r| r.body.as_slice()).collect();
    assert_eq!(stored_bodies, bodies);
    // "EventType=task.created\0" decodes with its NUL: it is still an event, kept as sent.
    assert_eq!(stored[4].summary.kind, Kind::Event);
    // Malformed SIDs are not extracted.
    assert!(stored.iter().all(|r| r.summary.task_sid.is_none()));
}

#[tokio::test]
async fn non_ascii_header_bytes_and_many_headers_are_recorded() {
    let app = spawn_app().await;
    let mut request = b"POST /h HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9 \xff\r\n".to_vec();
    for i in 0..90 {
        request.extend_from_slice(format!("X-Many-{i}: {i}\r\n").as_bytes());
    }
    request.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");

    let reply = raw_exchange(app.addr, &request).await;

    assert_eq!(first_status(&reply), 200);
    let stored = app.latest(1).await.remove(0);
    assert_eq!(
        header_values(&stored.headers, "X-Latin"),
        [b"caf\xe9 \xff".as_slice()]
    );
    assert_eq!(stored.headers.len(), 1 + 1 + 90 + 2);
    assert_eq!(stored.headers[50].name, "X-Many-48");
}

#[tokio::test]
async fn too_many_headers_get_431_from_hyper_and_nothing_crashes() {
    let app = spawn_app().await;
    let mut request = b"POST /h HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..1000 {
        request.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");

    let reply = raw_exchange(app.addr, &request).await;

    assert_eq!(first_status(&reply), 431);
    assert_eq!(app.post_form("/after", &[]).await.status(), 200);
}

#[tokio::test]
async fn absolute_form_and_connect_requests_are_recorded_and_refused_not_proxied() {
    let app = spawn_app().await;

    let absolute = raw_exchange(
        app.addr,
        b"POST http://127.0.0.1:4040/api/reservations/x/accept HTTP/1.1\r\nHost: 127.0.0.1:4040\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    let connect = raw_exchange(
        app.addr,
        b"CONNECT 127.0.0.1:4040 HTTP/1.1\r\nHost: 127.0.0.1:4040\r\n\r\n",
    )
    .await;

    assert_eq!(first_status(&absolute), 400);
    assert_eq!(first_status(&connect), 400);
    let stored = app.latest(2).await;
    assert_eq!(stored[0].summary.method, "CONNECT");
    assert_eq!(stored[0].summary.path, "127.0.0.1:4040");
    assert_eq!(
        stored[1].summary.path,
        "http://127.0.0.1:4040/api/reservations/x/accept"
    );
    assert_eq!(stored[1].body, b"{}");
    assert!(stored.iter().all(|r| r.summary.error.is_some()));
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_timed_out_and_recorded() {
    let app =
        spawn_app_with(|c| c.capture.body_read_timeout = std::time::Duration::from_millis(300))
            .await;

    // Declares 100 bytes, sends 10, then stalls.
    let reply = raw_exchange(
        app.addr,
        b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
    )
    .await;

    assert_eq!(first_status(&reply), 408);
    let stored = app.latest(1).await.remove(0);
    assert_eq!(stored.body, b"0123456789");
    assert!(
        stored
            .summary
            .error
            .as_deref()
            .unwrap()
            .contains("not received")
    );
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_by_the_header_timeout() {
    let app = spawn_app_with(|c| {
        c.capture_limits.header_read_timeout = std::time::Duration::from_millis(300)
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"POST /slow HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    // Slowloris: never finish the head. hyper's timer (installed by server::http1_builder)
    // closes the connection.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        stream.read_to_end(&mut rest),
    )
    .await;

    assert!(
        closed.is_ok(),
        "the connection was closed by the header timeout"
    );
    assert_eq!(app.post_form("/after", &[]).await.status(), 200);
    assert_eq!(
        app.latest(5).await.len(),
        1,
        "the unfinished request was never a request"
    );
}

#[tokio::test]
async fn a_full_listener_closes_the_stalest_idle_connection_for_a_new_one() {
    let app = spawn_app_with(|c| c.capture_limits.max_connections = 2).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Two idle keep-alive connections take both slots; the first has been idle longer.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = stream.read(&mut buf).await.unwrap();
        held.push(stream);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A third is served at once, not after the idle ones time out.
    let third = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        app.client.get(app.url("/third")).send(),
    )
    .await
    .expect("served without waiting")
    .unwrap();
    assert_eq!(third.status(), 200);
    // The stalest was closed to make room; the other still works.
    let mut buf = [0u8; 256];
    let eof = tokio::time::timeout(std::time::Duration::from_secs(5), held[0].read(&mut buf))
        .await
        .expect("the stalest connection is closed");
    assert!(matches!(eof, Ok(0) | Err(_)), "closed, not answered");
    held[1]
        .write_all(b"GET /still HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = held[1].read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}
