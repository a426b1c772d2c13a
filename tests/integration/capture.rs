use taskhook::capture::responder::AssignmentReply;
use taskhook::taskrouter::status::Kind;

use crate::helpers::*;

#[tokio::test]
async fn an_assignment_callback_gets_an_empty_json_object_and_is_stored_with_its_sids() {
    let app = spawn_app().await;
    let params = assignment_params();
    // Send header names in Title-Case, as TaskRouter's own client does.
    let client = crate::helpers::http_builder()
        .http1_title_case_headers()
        .build()
        .unwrap();

    let response = client
        .post(app.url("/assignment?src=tr"))
        .header("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        .header("I-Twilio-Idempotency-Token", "abc-1")
        .form(&params)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), "{}");

    let stored = app.latest(1).await.remove(0);
    let s = &stored.summary;
    assert_eq!(
        (s.method.as_str(), s.path.as_str()),
        ("POST", "/assignment")
    );
    assert_eq!(s.query.as_deref(), Some("src=tr"));
    assert_eq!(s.kind, Kind::Assignment);
    assert_eq!(s.event_type, None);
    assert_eq!(s.account_sid.as_ref().map(|s| s.as_str()), Some(ACCOUNT));
    assert_eq!(
        s.workspace_sid.as_ref().map(|s| s.as_str()),
        Some(WORKSPACE)
    );
    assert_eq!(s.task_sid.as_ref().map(|s| s.as_str()), Some(TASK));
    assert_eq!(
        s.reservation_sid.as_ref().map(|s| s.as_str()),
        Some(RESERVATION)
    );
    assert_eq!(s.worker_sid.as_ref().map(|s| s.as_str()), Some(WORKER));
    assert_eq!(s.status, 200);
    assert!(s.remote_addr.starts_with("127.0.0.1:"));
    assert_eq!(stored.http_version, "HTTP/1.1");

    // The body is stored byte for byte as it was sent.
    let expected_body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    assert_eq!(stored.body, expected_body.as_bytes());
    assert_eq!(s.body_size, expected_body.len() as u64);

    // Header names keep the case the client sent.
    let names: Vec<&str> = stored.headers.iter().map(|h| h.name.as_str()).collect();
    assert!(names.contains(&"X-Twilio-Signature"), "{names:?}");
    assert!(names.contains(&"I-Twilio-Idempotency-Token"), "{names:?}");
    assert_eq!(
        header_values(&stored.headers, "x-twilio-signature"),
        [b"RSOYDt4T1cUTdK1PDd93/VVr8B8=".as_slice()]
    );

    // The response we sent is stored with the request.
    assert_eq!(stored.response.status, 200);
    assert_eq!(stored.response.body, b"{}");
    assert_eq!(
        header_values(&stored.response.headers, "content-type"),
        [b"application/json".as_slice()]
    );
}

#[tokio::test]
async fn an_event_callback_gets_204_with_a_json_content_type() {
    let app = spawn_app().await;

    let response = app
        .post_form("/events", &reservation_event_params("reservation.accepted"))
        .await;

    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.bytes().await.unwrap().len(), 0);
    let stored = app.latest(1).await.remove(0);
    assert_eq!(stored.summary.kind, Kind::Event);
    assert_eq!(
        stored.summary.event_type.as_deref(),
        Some("reservation.accepted")
    );
    assert_eq!(
        stored.summary.task_sid.as_ref().map(|s| s.as_str()),
        Some(TASK)
    );
    assert_eq!(
        stored.summary.reservation_sid.as_ref().map(|s| s.as_str()),
        Some(RESERVATION)
    );
    assert_eq!(stored.response.status, 204);
}

#[tokio::test]
async fn any_method_and_path_is_recorded_and_answered_with_an_empty_object() {
    let app = spawn_app().await;

    for (method, path) in [
        ("GET", "/health?probe=1"),
        ("PUT", "/deeply/nested/path"),
        ("DELETE", "/"),
        ("PATCH", "/x%20y"),
        ("OPTIONS", "/any"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .body("payload")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} {path}");
        assert_eq!(response.text().await.unwrap(), "{}");
    }

    let stored = app.latest(10).await;
    let seen: Vec<(String, String, Option<String>)> = stored
        .iter()
        .rev()
        .map(|r| {
            (
                r.summary.method.clone(),
                r.summary.path.clone(),
                r.summary.query.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".into(), "/health".into(), Some("probe=1".into())),
            ("PUT".into(), "/deeply/nested/path".into(), None),
            ("DELETE".into(), "/".into(), None),
            ("PATCH".into(), "/x%20y".into(), None),
            ("OPTIONS".into(), "/any".into(), None),
        ]
    );
    assert!(stored.iter().all(|r| r.summary.kind == Kind::Other));
    // Ids are monotonic: newest first.
    assert!(stored.windows(2).all(|w| w[0].summary.id > w[1].summary.id));
}

#[tokio::test]
async fn accept_mode_answers_assignment_callbacks_with_the_accept_instruction() {
    let app = spawn_app_with(|c| {
        c.capture
            .responder
            .set_assignment(AssignmentReply::accept());
    })
    .await;

    let response = app.post_form("/assignment", &assignment_params()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"instruction":"accept"}"#
    );

    // Events are still answered 204 in accept mode.
    let event = app
        .post_form("/events", &reservation_event_params("task.created"))
        .await;
    assert_eq!(event.status(), 204);
}

#[tokio::test]
async fn an_instruction_file_is_returned_verbatim_for_assignments_only() {
    let body = br#"{"instruction":"dequeue","from":"+15550100","post_work_activity_sid":"WA1"}"#;
    let app = spawn_app_with(|c| {
        c.capture
            .responder
            .set_assignment(AssignmentReply::Instruction(body.to_vec()));
    })
    .await;

    let response = app.post_form("/assignment", &assignment_params()).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    let other = app.post_form("/other", &[("a", "b")]).await;
    assert_eq!(other.text().await.unwrap(), "{}");
}

#[tokio::test]
async fn headers_keep_their_case_and_arrival_order_across_keep_alive_requests() {
    let app = spawn_app().await;
    let first = "POST /a HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: one\r\ncontent-TYPE: application/x-www-form-urlencoded\r\nX-Repeat: 1\r\nx-other: z\r\nX-Repeat: 2\r\nContent-Length: 3\r\n\r\na=b";
    let second = "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Second: yes\r\nConnection: close\r\n\r\n4;ext=1\r\nc=de\r\n0\r\nX-Trailer: t\r\n\r\n";

    let reply = raw_exchange(app.addr, format!("{first}{second}").as_bytes()).await;

    let text = String::from_utf8_lossy(&reply);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let stored = app.latest(2).await;
    let (b, a) = (&stored[0], &stored[1]);
    let names = |r: &taskhook::store::models::StoredRequest| -> Vec<String> {
        r.headers.iter().map(|h| h.name.clone()).collect()
    };
    assert_eq!(
        names(a),
        [
            "Host",
            "X-Twilio-Signature",
            "content-TYPE",
            "X-Repeat",
            "x-other",
            "X-Repeat",
            "Content-Length"
        ]
    );
    assert_eq!(
        header_values(&a.headers, "x-repeat"),
        [b"1".as_slice(), b"2"]
    );
    assert_eq!(a.body, b"a=b");
    assert_eq!(
        names(b),
        ["Host", "Transfer-Encoding", "X-Second", "Connection"]
    );
    assert_eq!(
        b.body, b"c=de",
        "chunked body stored decoded, as the app would see it"
    );
}
