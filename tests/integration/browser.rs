//! The inspector in a real headless Chromium: live rows, copy buttons, keyboard, detail page,
//! and hostile captures that must stay inert on first render and on live update.

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;

use crate::browser_support::Browser;
use crate::helpers::*;

/// Waits for `css` to match, at most 5 s.
async fn wait_for(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

#[tokio::test]
async fn callbacks_appear_live_and_sids_are_one_click_away() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let c = &browser.client;

    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_for(&browser, "#live-status.on").await;
    assert!(
        !c.current_url().await.unwrap().as_str().contains("token"),
        "token removed from the URL"
    );

    // A callback arrives while the page is open: the row appears without a reload.
    app.post_form("/assignment", &assignment_params()).await;
    let row = wait_for(&browser, "#requests tbody tr[data-id]").await;
    let text = row.text().await.unwrap();
    assert!(
        text.contains("assignment") && text.contains("/assignment"),
        "{text}"
    );
    assert!(
        text.contains("WR0123…cdef"),
        "short ReservationSid shown: {text}"
    );

    // The copy button copies the full ReservationSid.
    let copy = format!("#requests tbody tr[data-id] button.copy[data-copy='{RESERVATION}']");
    c.find(Locator::Css(&copy))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#toast:not([hidden])").await;
    assert_eq!(browser.clipboard_text().await, RESERVATION);

    // More traffic, then the keyboard: j selects the newest row, Enter opens it.
    app.post_form("/events", &reservation_event_params("reservation.accepted"))
        .await;
    wait_for(&browser, "#requests tbody tr:nth-child(2)").await;
    browser.screenshot("inspector-list").await;
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("j").await.unwrap();
    wait_for(&browser, "#requests tbody tr.selected").await;
    body.send_keys(&Key::Enter.to_string()).await.unwrap();
    let heading = wait_for(&browser, "section.summary h1").await;
    assert!(heading.text().await.unwrap().contains("/events"));

    // The detail page of the assignment callback: fields, pretty attributes, copy as curl.
    let id = app.latest(2).await[1].summary.id;
    c.goto(&app.inspector_url(&format!("/requests/{id}")))
        .await
        .unwrap();
    // The detail is in tabs (issue 13): the fields are on the Fields tab.
    wait_for(&browser, "#t-fields").await.click().await.unwrap();
    let fields = wait_for(&browser, "#form-fields")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        fields.contains("ReservationSid") && fields.contains("\"selected_language\": \"es\""),
        "{fields}"
    );
    wait_for(&browser, "#t-summary")
        .await
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#copy-curl"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#toast:not([hidden])").await;
    let curl = browser.clipboard_text().await;
    assert!(
        curl.starts_with("curl -sS -X $'POST'") && curl.contains("/assignment"),
        "{curl}"
    );
    browser.screenshot("inspector-detail").await;

    c.goto(&app.inspector_url(&format!("/tasks/{TASK}")))
        .await
        .unwrap();
    wait_for(&browser, "#timeline svg").await;
    browser.screenshot("inspector-task").await;
    browser.close().await;
}

/// Payloads from the security reference (§3.3) placed in every field the page renders.
fn hostile_params(marker: &str) -> Vec<(String, String)> {
    let img = format!("<img src=x onerror=\"window.__xss='{marker}'\">");
    let script = format!("<script>window.__xss='{marker}'</script>");
    vec![
        ("TaskSid".into(), TASK.into()),
        ("ReservationSid".into(), RESERVATION.into()),
        ("EventType".into(), format!("</span>{img}")),
        ("WorkerName".into(), script.clone()),
        (
            "TaskAttributes".into(),
            format!(r#"{{"a":"</script>{script}","url":"javascript:window.__xss=1"}}"#),
        ),
        (
            img.clone(),
            format!("</textarea><svg onload=\"window.__xss='{marker}'\">"),
        ),
        ("Rtl".into(), "\u{202e}gnp.exe\u{0}\u{1b}[31m".into()),
    ]
}

#[tokio::test]
async fn hostile_captures_stay_inert_on_first_render_and_on_live_update() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let c = &browser.client;
    let send = |marker: &'static str| {
        app.client
            .post(app.url(&format!(
                "/cb/%3Cimg%20src%3Dx%20onerror%3D{marker}%3E?q=<svg/onload={marker}>"
            )))
            .header(
                "X-Evil",
                format!("\"><img src=x onerror=\"window.__xss='{marker}'\">"),
            )
            .form(&hostile_params(marker))
            .send()
    };
    send("first").await.unwrap();

    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_for(&browser, "#live-status.on").await;
    send("live").await.unwrap();
    wait_for(&browser, "#requests tbody tr:nth-child(2)").await;
    let first_row = c
        .find(Locator::Css("#requests tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        first_row.contains("</span><img"),
        "shown as text on the live row: {first_row}"
    );

    let id = app.latest(1).await[0].summary.id;
    for page in [
        "/".to_owned(),
        format!("/requests/{id}"),
        format!("/tasks/{TASK}"),
        "/reservations".to_owned(),
        "/workers".to_owned(),
    ] {
        c.goto(&app.inspector_url(&page)).await.unwrap();
        wait_for(&browser, "main").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            c.get_alert_text().await.is_err(),
            "a dialog opened on {page}"
        );
        let xss = c
            .execute(
                "return window.__xss === undefined ? null : String(window.__xss);",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(xss, serde_json::Value::Null, "script ran on {page}");
        let links = c
            .execute(
                "return Array.from(document.links).filter(a => !/^https?:/.test(a.href)).length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            links,
            serde_json::json!(0),
            "no javascript: links on {page}"
        );
    }
    c.goto(&app.inspector_url(&format!("/requests/{id}")))
        .await
        .unwrap();
    // The detail is in tabs (issue 13): the fields are on the Fields tab.
    wait_for(&browser, "#t-fields").await.click().await.unwrap();
    let fields = wait_for(&browser, "#form-fields")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        fields.contains("\\u{202e}gnp.exe\\u{0}\\u{1b}[31m"),
        "bidi and control characters made visible: {fields}"
    );
    browser.screenshot("inspector-hostile-detail").await;
    browser.close().await;
}

#[tokio::test]
async fn one_click_accepts_a_reservation_and_shows_taskrouters_answer() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let fake = crate::fake_taskrouter::FakeTaskRouter::start().await;
    fake.set_reservation(RESERVATION, "pending");
    let app = crate::actions::app_with(&fake).await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_for(&browser, "#live-status.on").await;

    // The assignment callback arrives live, with Accept / Reject and a countdown.
    app.post_form("/assignment", &assignment_params()).await;
    wait_for(
        &browser,
        "#requests tbody tr[data-id] .decide button[data-action='accept']",
    )
    .await;
    let countdown = wait_for(&browser, "#requests .countdown")
        .await
        .text()
        .await
        .unwrap();
    assert!(countdown.ends_with("left"), "{countdown}");
    browser.screenshot("inspector-pending").await;

    c.find(Locator::Css("#requests button[data-action='accept']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let result = wait_for(&browser, "#requests output.result.ok").await;
    assert_eq!(result.text().await.unwrap(), "accept: Alice · accepted");
    assert!(
        c.find(Locator::Css("#requests button[data-action='accept']"))
            .await
            .is_err(),
        "Accept goes away once the reservation is accepted"
    );
    assert_eq!(fake.calls().len(), 1);
    assert_eq!(fake.calls()[0].body, "ReservationStatus=accepted");
    browser.screenshot("inspector-accepted").await;

    // A second reservation that already timed out: TaskRouter's error is shown in place.
    let second = "WRffffffffffffffffffffffffffffffff";
    fake.set_reservation(second, "timeout");
    let mut params = assignment_params();
    params.retain(|(k, _)| *k != "ReservationSid");
    params.push(("ReservationSid", second));
    app.post_form("/assignment", &params).await;
    let accept =
        format!("#requests .decide[data-reservation='{second}'] button[data-action='accept']");
    wait_for(&browser, &accept).await.click().await.unwrap();
    let error = wait_for(
        &browser,
        &format!("#requests .decide[data-reservation='{second}'] output.result.err"),
    )
    .await;
    let text = error.text().await.unwrap();
    assert!(
        text.contains("already in state [timeout]") && text.contains("more info"),
        "{text}"
    );
    let buttons =
        format!("#requests .decide[data-reservation='{second}'] button[data-action='reject']");
    assert!(
        c.find(Locator::Css(&buttons)).await.is_err(),
        "the real state (timeout) was fetched; no more Reject"
    );
    browser.screenshot("inspector-accept-error").await;
    browser.close().await;
}

/// The page's own form posts (Replay, Clear all) pass the guard in a real Chromium: last time
/// they were refused there (`Origin: null`) while every HTTP-level test passed.
#[tokio::test]
async fn replay_and_clear_all_work_when_clicked_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    app.post_form(
        "/events",
        &[("EventType", "task.created"), ("TaskSid", TASK)],
    )
    .await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/requests/1?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    wait_for(&browser, "#replay").await.click().await.unwrap();
    // The replay is sent (to the capture listener, which records it too) and the page opens
    // the replay's own record.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let replay = loop {
        let path = c.current_url().await.unwrap().path().to_owned();
        if path.starts_with("/requests/") && path != "/requests/1" {
            break path;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Replay stayed at {path}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id: i64 = replay.trim_start_matches("/requests/").parse().unwrap();
    let recorded = app.latest(5).await;
    assert!(
        recorded
            .iter()
            .any(|r| r.summary.id == id && r.summary.replay_of == Some(1)),
        "the replay is recorded as a replay of #1"
    );
    c.goto(&app.inspector_url("/requests/1")).await.unwrap();
    wait_for(&browser, &format!("#replays a[href='{replay}']")).await;

    c.goto(&app.inspector_url("/")).await.unwrap();
    wait_for(&browser, "#requests tbody tr[data-id]").await;
    wait_for(&browser, "details.clear-all summary")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "details.clear-all input[name='confirm']")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "details.clear-all button[type='submit']")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#kept").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !app.latest(5).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "Clear all did nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = c
        .find_all(Locator::Css("#requests tbody tr[data-id]"))
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "the list shows no requests after Clear all"
    );
    browser.screenshot("inspector-cleared").await;
    browser.close().await;
}

#[tokio::test]
async fn the_public_url_in_the_top_bar_is_shown_and_copied() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let public = "https://abc123.ngrok-free.app";
    let app = spawn_app_with(|c| c.capture.public_url = Some(public.into())).await;
    let c = &browser.client;
    c.goto(&app.inspector_url(&format!("/?token={INSPECTOR_TOKEN}")))
        .await
        .unwrap();
    let shown = wait_for(&browser, "#public-url").await;
    assert_eq!(shown.text().await.unwrap().trim(), public);
    c.find(Locator::Css("#public-url button.copy"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#toast:not([hidden])").await;
    assert_eq!(browser.clipboard_text().await, public);
}
