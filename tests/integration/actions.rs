use serde_json::json;
use taskhook::taskrouter::client::Credentials;
use taskhook::taskrouter::signature::AuthToken;

use crate::fake_taskrouter::{FakeTaskRouter, TOKEN};
use crate::helpers::*;

/// An app whose REST client talks to `fake` with the fake's credentials.
pub async fn app_with(fake: &FakeTaskRouter) -> TestApp {
    let url = fake.url.clone();
    spawn_app_with(move |c| {
        c.taskrouter.base_url = url;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &ACCOUNT.parse().unwrap(),
            AuthToken::new(TOKEN),
        ));
    })
    .await
}

fn reservation_path() -> String {
    format!("/v1/Workspaces/{WORKSPACE}/Tasks/{TASK}/Reservations/{RESERVATION}")
}

#[tokio::test]
async fn accept_sends_what_the_quickstart_curl_sends_and_shows_alice_accepted() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/accept"),
            json!({}),
        )
        .await;

    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (
            answer["worker_name"].as_str(),
            answer["reservation_status"].as_str()
        ),
        (Some("Alice"), Some("accepted"))
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.path,
        reservation_path(),
        "TaskSid and WorkspaceSid came from the callback"
    );
    assert_eq!(
        call.authorization.as_deref(),
        Some(FakeTaskRouter::expected_authorization().as_str())
    );
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(call.body, "ReservationStatus=accepted");

    // The reservation is now accepted, and the call is in the audit trail without credentials.
    let reservations = app.api("/api/reservations").await;
    assert_eq!(reservations["reservations"][0]["status"], "accepted");
    assert_eq!(reservations["reservations"][0]["worker_name"], "Alice");
    let task = app.api(&format!("/api/tasks/{TASK}")).await;
    let action = &task["actions"][0];
    assert_eq!(action["action"], "accept");
    assert_eq!(action["params"], "ReservationStatus=accepted");
    assert_eq!(action["response_status"], 200);
    assert_eq!(action["url"], format!("{}{}", fake.url, reservation_path()));
    assert!(!task.to_string().contains(TOKEN));
    let page = app
        .inspector_get(&format!("/tasks/{TASK}"))
        .await
        .text()
        .await
        .unwrap();
    let page = Page::parse(&page);
    assert!(
        page.text().contains("Alice · accepted"),
        "result shown beside the task: {}",
        page.text()
    );
}

#[tokio::test]
async fn reject_moves_the_worker_to_the_given_activity() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;
    let activity = "WA0123456789abcdef0123456789abcdef";

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/reject"),
            json!({"worker_activity_sid": activity}),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        fake.calls()[0].body,
        format!("ReservationStatus=rejected&WorkerActivitySid={activity}")
    );
    assert_eq!(
        app.api("/api/reservations").await["reservations"][0]["status"],
        "rejected"
    );
}

#[tokio::test]
async fn accepting_a_reservation_that_is_no_longer_pending_shows_taskrouters_error() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "timeout");
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/accept"),
            json!({}),
        )
        .await;

    assert_eq!(response.status(), 502);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["status"], 400);
    assert_eq!(answer["error"]["code"], 20001);
    assert_eq!(
        answer["error"]["more_info"],
        "https://www.twilio.com/docs/errors/20001"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is already in state [timeout]")
    );
    let page = app
        .inspector_get(&format!("/requests/{}", app.latest(1).await[0].summary.id))
        .await
        .text()
        .await
        .unwrap();
    let page = Page::parse(&page);
    assert!(
        page.text().contains("already in state [timeout]"),
        "the error is shown beside the reservation: {}",
        page.text()
    );
}

#[tokio::test]
async fn without_credentials_buttons_are_disabled_and_the_api_answers_409() {
    let fake = FakeTaskRouter::start().await;
    let url = fake.url.clone();
    let app = spawn_app_with(move |c| c.taskrouter.base_url = url).await;
    app.post_form("/assignment", &assignment_params()).await;

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/accept"),
            json!({}),
        )
        .await;

    assert_eq!(response.status(), 409);
    let message = response.json::<serde_json::Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("TWILIO_ACCOUNT_SID") && message.contains("TWILIO_AUTH_TOKEN"),
        "{message}"
    );
    assert!(fake.calls().is_empty());
    let page = app.inspector_get("/").await.text().await.unwrap();
    let page = Page::parse(&page);
    assert!(page.has("#no-credentials"), "the no-credentials notice");
    assert!(
        page.has(r#"[data-action="accept"][disabled]"#),
        "Accept is visible but disabled"
    );
}

#[tokio::test]
async fn rejected_credentials_say_so_without_echoing_a_secret() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let url = fake.url.clone();
    let app = spawn_app_with(move |c| {
        c.taskrouter.base_url = url;
        c.taskrouter.credentials = Some(Credentials::auth_token(
            &ACCOUNT.parse().unwrap(),
            AuthToken::new("wrong-token-sentinel"),
        ));
    })
    .await;
    app.post_form("/assignment", &assignment_params()).await;

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/accept"),
            json!({}),
        )
        .await;

    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(text.contains("credentials rejected"), "{text}");
    assert!(text.contains("20003"));
    assert!(!text.contains("wrong-token-sentinel"));
}

#[tokio::test]
async fn an_update_with_an_unknown_outcome_is_not_resent_but_checked() {
    let fake = FakeTaskRouter::start().await;
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;
    let accept = format!("/api/reservations/{RESERVATION}/accept");
    let unavailable = json!({"code": 20500, "message": "Internal Server Error", "status": 503});

    // 1. The update went through before the 503: the fetched state says accepted.
    fake.set_reservation(RESERVATION, "accepted");
    fake.script(503, unavailable.clone(), None);
    let applied = app.post_json(&accept, json!({})).await;

    let methods: Vec<String> = fake.calls().iter().map(|c| c.method.clone()).collect();
    assert_eq!(
        methods,
        ["POST", "GET"],
        "one update, then a fetch of the real state"
    );
    assert_eq!(applied.status(), 200);
    assert_eq!(
        applied.json::<serde_json::Value>().await.unwrap()["reservation_status"],
        "accepted"
    );
    assert_eq!(
        app.api("/api/reservations").await["reservations"][0]["status"],
        "accepted"
    );

    // 2. It did not: the click failed, and the real state is reported.
    fake.set_reservation(RESERVATION, "pending");
    fake.script(503, unavailable, None);
    let lost = app.post_json(&accept, json!({})).await;

    assert_eq!(fake.calls().len(), 4, "again one POST and one GET");
    assert_eq!(lost.status(), 502);
    let answer: serde_json::Value = lost.json().await.unwrap();
    assert_eq!(answer["reservation_status"], "pending");
    assert!(
        answer["summary"]
            .as_str()
            .unwrap()
            .contains("outcome unknown"),
        "{answer}"
    );
    assert_eq!(answer["error"]["status"], 503);
}

#[tokio::test]
async fn too_many_requests_is_retried_with_backoff() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    fake.script(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        Some(0),
    );
    fake.script(
        429,
        json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        Some(0),
    );
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;

    let response = app
        .post_json(
            &format!("/api/reservations/{RESERVATION}/accept"),
            json!({}),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test]
async fn complete_and_cancel_update_the_task_with_a_reason() {
    let fake = FakeTaskRouter::start().await;
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;

    let done = app
        .post_json(
            &format!("/api/tasks/{TASK}/complete"),
            json!({"reason": "call ended"}),
        )
        .await;
    let gone = app
        .post_json(&format!("/api/tasks/{TASK}/cancel"), json!({}))
        .await;

    assert_eq!(done.status(), 200);
    assert_eq!(
        done.json::<serde_json::Value>().await.unwrap()["assignment_status"],
        "completed"
    );
    assert_eq!(gone.status(), 200);
    let calls = fake.calls();
    assert_eq!(
        calls[0].path,
        format!("/v1/Workspaces/{WORKSPACE}/Tasks/{TASK}")
    );
    assert_eq!(
        calls[0].body,
        "AssignmentStatus=completed&Reason=call+ended"
    );
    assert_eq!(
        calls[1].body,
        "AssignmentStatus=canceled&Reason=canceled+from+taskhook"
    );
}

#[tokio::test]
async fn cross_site_and_malformed_action_requests_reach_nothing() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;
    let api = app.inspector_url(&format!("/api/reservations/{RESERVATION}/accept"));
    let form = app.inspector_url(&format!("/reservations/{RESERVATION}/accept"));
    let port = app.inspector.port();

    let attempts = vec![
        (
            "foreign Origin",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Origin", "http://localhost:3000")
                .json(&json!({})),
        ),
        (
            "null Origin",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Origin", "null")
                .json(&json!({})),
        ),
        (
            "same-site fetch",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Sec-Fetch-Site", "same-site")
                .json(&json!({})),
        ),
        (
            "text/plain body",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .header("Content-Type", "text/plain")
                .body("{}"),
        ),
        (
            "form-encoded body on the JSON route",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .form(&[("task_sid", TASK)]),
        ),
        ("no token", app.client.post(&api).json(&json!({}))),
        (
            "form without CSRF token",
            app.client
                .post(&form)
                .bearer_auth(INSPECTOR_TOKEN)
                .form(&[("task_sid", TASK)]),
        ),
        (
            "form with a wrong CSRF token",
            app.client
                .post(&form)
                .bearer_auth(INSPECTOR_TOKEN)
                .form(&[("csrf", "nope"), ("task_sid", TASK)]),
        ),
        (
            "cookie form post from another port",
            app.client
                .post(&form)
                .header("Cookie", format!("taskhook_{port}={INSPECTOR_TOKEN}"))
                .header("Origin", format!("http://127.0.0.1:{}", port + 1))
                .form(&[("csrf", "x")]),
        ),
        (
            "GET does not change state",
            app.client.get(&api).bearer_auth(INSPECTOR_TOKEN),
        ),
        (
            "malformed SID",
            app.client
                .post(app.inspector_url("/api/reservations/WR..%2F..%2FAccounts/accept"))
                .bearer_auth(INSPECTOR_TOKEN)
                .json(&json!({})),
        ),
        (
            "malformed task SID",
            app.client
                .post(&api)
                .bearer_auth(INSPECTOR_TOKEN)
                .json(&json!({"task_sid": "WT/../x"})),
        ),
    ];
    for (name, request) in attempts {
        let response = request.send().await.unwrap();
        assert!(
            !response.status().is_success() && !response.status().is_redirection(),
            "{name}: {}",
            response.status()
        );
    }
    assert!(
        fake.calls().is_empty(),
        "no REST call was made: {:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn the_html_form_accepts_with_the_csrf_token_and_comes_back() {
    let fake = FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = app_with(&fake).await;
    app.post_form("/assignment", &assignment_params()).await;
    let csrf = app.csrf().await;
    let client = crate::helpers::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let response = client
        .post(app.inspector_url(&format!("/reservations/{RESERVATION}/accept")))
        .bearer_auth(INSPECTOR_TOKEN)
        .header("Origin", format!("http://{}", app.inspector))
        .form(&[
            ("csrf", csrf.as_str()),
            ("task_sid", TASK),
            ("workspace_sid", WORKSPACE),
            ("back", "/reservations"),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/reservations");
    assert_eq!(fake.calls().len(), 1);
    let after = app
        .inspector_get("/reservations")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        after.contains("accept: Alice · accepted"),
        "result shown after the redirect"
    );
    assert!(
        !after.contains("data-action=\"accept\""),
        "no Accept button once accepted"
    );
}

#[tokio::test]
async fn signatures_made_by_twilios_libraries_are_valid_and_tampering_is_caught() {
    // twilio-python's test vector (reference §4.5): token 12345, this URL and these params.
    let app = spawn_app_with(|c| {
        c.capture.signature_token = Some(AuthToken::new("12345"));
        c.capture.public_url = Some("https://mycompany.com".into());
    })
    .await;
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    let send = |params: Vec<(&'static str, &'static str)>, signature: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url("/myapp.php?foo=1&bar=2"))
            .form(&params);
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send()
    };

    send(params.to_vec(), Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="))
        .await
        .unwrap();
    let mut tampered = params.to_vec();
    tampered[2] = ("Digits", "9999");
    send(tampered, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="))
        .await
        .unwrap();
    send(params.to_vec(), None).await.unwrap();

    let stored = app.latest(3).await;
    let verdicts: Vec<&str> = stored
        .iter()
        .rev()
        .map(|r| r.summary.signature.as_str())
        .collect();
    assert_eq!(verdicts, ["valid", "invalid", "missing"]);
    let reason = stored[1].signature_reason.as_deref().unwrap();
    assert!(
        reason.contains("https://mycompany.com/myapp.php?foo=1&bar=2")
            && reason.contains("--public-url"),
        "{reason}"
    );
    let listed = app.api("/api/requests").await;
    assert_eq!(listed["requests"][1]["signature"], "invalid");
}
