//! Issue 13 in headless Chromium: every page at phone, laptop and desktop width in both colour
//! schemes — axe-core finds nothing, nothing scrolls sideways — and the split view, stream
//! controls, bodies and diff clicked as a person would, with the hostile corpus kept inert.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser_support::Browser;
use crate::helpers::*;
use crate::workbench::{Demo, demo, eventually};

/// Phone, laptop, desktop.
pub const WIDTHS: [u32; 3] = [390, 1024, 1920];

/// Waits for `css` to match, at most 5 s.
pub async fn wait_for(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// Corpus files sent to every seeded app: markup in fields, headers, path and query, a body
/// that closes `<script>`, invalid UTF-8, bidi and zero-width characters.
const HOSTILE: [&str; 6] = [
    "c01-script-in-form-fields",
    "c03-textarea-and-pre-breakout-body",
    "c07-path-and-query-markup-encoded",
    "c12-json-closes-script-block",
    "c15-invalid-utf8-form",
    "c20-bidi-and-zero-width",
];

/// A realistic store: the quickstart's assignment and events from the local TaskRouter, a
/// replay of the assignment, an Event Streams batch, a body over the display limit and the
/// hostile corpus requests.
pub struct Seeded {
    pub demo: Demo,
    pub assignment: i64,
    pub replay: i64,
    pub batch: i64,
    pub big: i64,
    pub hostile: Vec<i64>,
}

pub async fn seeded() -> Seeded {
    let demo = demo().await;
    let app = &demo.app;
    let assignment = eventually("the assignment callback", async || {
        let list = app.api("/api/requests?kind=assignment").await;
        list["requests"][0]["id"].as_i64()
    })
    .await;
    let replay = app
        .post_json(&format!("/api/requests/{assignment}/replay"), json!({}))
        .await;
    assert_eq!(replay.status(), 201, "replay sent");
    let replay = replay.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let ce = |id: &str, event: &str| {
        json!({
            "specversion": "1.0", "type": format!("com.twilio.taskrouter.{event}"),
            "source": format!("/v1/Workspaces/{WORKSPACE}"), "id": id,
            "time": "2026-01-02T03:04:05.678Z", "datacontenttype": "application/json",
            "data": { "name": event, "payload": {
                "eventtype": event, "task_sid": demo.task, "workspace_sid": WORKSPACE,
                "worker_name": "Alice", "timestamp": 1_767_323_045_678_i64 } }
        })
    };
    let batch = json!([ce("ev-1", "task.created"), ce("ev-2", "task-queue.entered")]);
    app.client
        .post(app.url("/streams"))
        .json(&batch)
        .send()
        .await
        .unwrap();

    // A JSON body bigger than what a page renders (256 KiB), keys deliberately not sorted.
    let mut big = String::from("{\"zeta\":1,\"alpha\":2,\"items\":[");
    while big.len() < 300 * 1024 {
        big.push_str("\"0123456789abcdef0123456789abcdef\",");
    }
    big.push_str("\"end\"]}");
    app.client
        .post(app.url("/big"))
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    for file in HOSTILE {
        let bytes = std::fs::read(dir.join(format!("{file}.http"))).unwrap();
        raw_exchange(app.addr, &bytes).await;
    }
    let rows = app.latest(100).await;
    let id_of = |path: &str| {
        rows.iter()
            .find(|r| r.summary.path == path)
            .unwrap_or_else(|| panic!("no request to {path}"))
            .summary
            .id
    };
    let (batch, big) = (id_of("/streams"), id_of("/big"));
    let first = rows.iter().map(|r| r.summary.id).max().unwrap() - HOSTILE.len() as i64 + 1;
    let hostile = (first..first + HOSTILE.len() as i64).collect();
    Seeded {
        assignment,
        replay,
        batch,
        big,
        hostile,
        demo,
    }
}

/// Every page, by a name for screenshots and its path.
pub fn pages(s: &Seeded) -> Vec<(String, String)> {
    let mut pages = vec![
        ("list".to_owned(), "/".to_owned()),
        ("detail".to_owned(), format!("/requests/{}", s.assignment)),
        ("replay".to_owned(), format!("/requests/{}", s.replay)),
        ("stream-events".to_owned(), format!("/requests/{}", s.batch)),
        ("big-body".to_owned(), format!("/requests/{}", s.big)),
        ("reservations".to_owned(), "/reservations".to_owned()),
        ("task".to_owned(), format!("/tasks/{}", s.demo.task)),
        ("workers".to_owned(), "/workers".to_owned()),
        (
            "empty-filter".to_owned(),
            "/?q=nothing-matches-this".to_owned(),
        ),
        ("error".to_owned(), "/requests/999999".to_owned()),
        ("split".to_owned(), format!("/?open={}", s.assignment)),
        (
            "task-compare".to_owned(),
            format!("/tasks/{}?compare={TASK}", s.demo.task),
        ),
        (
            "replay-diff".to_owned(),
            format!("/requests/{}#d-diff", s.replay),
        ),
    ];
    for id in &s.hostile {
        pages.push((format!("hostile-{id}"), format!("/requests/{id}")));
    }
    pages
}

/// Opens `path` and waits until the page has settled (live stream open, tray drawn).
pub async fn open(browser: &Browser, app: &TestApp, path: &str) {
    browser.client.goto(&app.inspector_url(path)).await.unwrap();
    wait_for(browser, "main").await;
    let _ = browser
        .client
        .wait()
        .at_most(Duration::from_secs(3))
        .for_element(Locator::Css("#live-status.on"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Sideways scroll: how far the page is wider than its viewport (0 when it fits).
pub async fn overflow(browser: &Browser) -> i64 {
    browser
        .client
        .execute(
            "const d = document.documentElement; \
             return Math.max(d.scrollWidth - d.clientWidth, d.scrollWidth - window.innerWidth);",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap()
}

/// Nothing from the corpus ran or became markup.
pub async fn assert_inert(browser: &Browser, what: &str) {
    let c = &browser.client;
    assert!(
        c.get_alert_text().await.is_err(),
        "a dialog opened on {what}"
    );
    let xss = c
        .execute(
            "return [window.__xss === undefined ? null : String(window.__xss), document.title, \
             document.querySelectorAll('main script, main iframe, main img, main object').length];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(xss[0], Value::Null, "script ran on {what}");
    assert!(
        !xss[1].as_str().unwrap_or_default().contains("XSS"),
        "title changed on {what}: {}",
        xss[1]
    );
    assert_eq!(xss[2], json!(0), "markup from a capture on {what}");
}

/// The issue's "done when": each page at 390, 1024 and 1920 px in light and dark has no axe-core
/// violation and no sideways scroll; screenshots land in target/screenshots/ui-*.png.
#[tokio::test]
async fn every_page_is_accessible_and_fits_at_every_width_in_both_themes() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    open(&browser, app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    let mut failures = Vec::new();
    let mut total = 0;
    for dark in [false, true] {
        let theme = if dark { "dark" } else { "light" };
        for width in WIDTHS {
            browser.emulate(width, dark).await;
            for (name, path) in pages(&s) {
                open(&browser, app, &path).await;
                assert_inert(&browser, &path).await;
                let violations = browser.axe_violations().await;
                total += violations.len();
                for v in violations {
                    failures.push(format!("{name} {width}px {theme}: {v}"));
                }
                let wide = overflow(&browser).await;
                if wide > 0 {
                    failures.push(format!(
                        "{name} {width}px {theme}: scrolls sideways by {wide} px"
                    ));
                }
                if !name.starts_with("hostile") || width == 390 {
                    browser
                        .screenshot(&format!("ui-{name}-{width}-{theme}"))
                        .await;
                }
            }
        }
    }
    eprintln!("axe-core violations (nodes): {total}");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// Heights of the request cells (`a.req`) of the list, and the line height they should keep to.
async fn request_cell_heights(browser: &Browser) -> (Vec<f64>, f64) {
    let got = browser
        .client
        .execute(
            "const cells = Array.from(document.querySelectorAll('#requests tbody a.req'));
             const line = parseFloat(getComputedStyle(cells[0]).lineHeight);
             return [cells.map(a => a.getBoundingClientRect().height), line];",
            vec![],
        )
        .await
        .unwrap();
    let heights = got[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_f64().unwrap())
        .collect();
    (heights, got[1].as_f64().unwrap())
}

/// Below 700 px rows are two-line cards and the tray a bottom sheet whose full-width Accept
/// works when tapped; at every width a long captured path stays one line, full on hover.
#[tokio::test]
async fn on_a_phone_rows_are_cards_and_the_tray_is_a_bottom_sheet() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let c = &browser.client;
    browser.emulate(390, false).await;
    open(&browser, app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    wait_for(&browser, "#tray:not([hidden]) .tray-item").await;

    // Cards: the header row is hidden, each row is a box of at most three short lines.
    let layout = c
        .execute(
            "const rows = Array.from(document.querySelectorAll('#requests tbody tr'));
             const head = document.querySelector('#requests thead').getBoundingClientRect();
             return [head.width, Math.max(...rows.map(r => r.getBoundingClientRect().height)),
                     getComputedStyle(rows[0]).display];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        layout[0].as_f64().unwrap() <= 1.0,
        "column headers hidden: {layout}"
    );
    assert_eq!(layout[2], "flex", "rows are cards");
    assert!(
        layout[1].as_f64().unwrap() < 120.0,
        "no card taller than request + names + Accept/Reject: {layout}"
    );
    let (heights, line) = request_cell_heights(&browser).await;
    assert!(
        heights.iter().all(|h| *h <= line * 1.5),
        "every request cell one line ({line} px): {heights:?}"
    );
    // The cut path of the hostile corpus row has its full value as the hover text.
    let hostile_path = app.latest(100).await;
    let long = hostile_path
        .iter()
        .find(|r| r.summary.path.starts_with("/cb/"))
        .unwrap();
    let title = c
        .find(Locator::Css(&format!(
            "#requests tr[data-id='{}'] a.req",
            long.summary.id
        )))
        .await
        .unwrap()
        .attr("title")
        .await
        .unwrap()
        .unwrap();
    assert!(
        title.starts_with("POST /cb/%3Cimg") && title.contains("?q="),
        "{title}"
    );

    // The tray: fixed to the bottom edge, Accept and Reject sharing its width.
    let sheet = c
        .execute(
            "const t = document.getElementById('tray'); const r = t.getBoundingClientRect();
             const a = t.querySelector('.tray-item button.act.accept').getBoundingClientRect();
             return [getComputedStyle(t).position, Math.round(r.bottom), innerHeight, r.width, a.width];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(sheet[0], "fixed", "{sheet}");
    assert_eq!(
        sheet[1], sheet[2],
        "the sheet sits on the bottom edge: {sheet}"
    );
    assert!(
        sheet[4].as_f64().unwrap() > sheet[3].as_f64().unwrap() * 0.4,
        "Accept takes half the sheet: {sheet}"
    );
    browser.screenshot("ui-phone-tray").await;
    let alice =
        "//li[contains(@class,'tray-item')][.//strong[.='Alice']]//button[@data-action='accept']";
    c.find(Locator::XPath(alice))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let toast = wait_for(&browser, "#toast:not([hidden])").await;
    assert_eq!(toast.text().await.unwrap(), "accept: Alice · accepted");
    eventually("the reservation accepted in the store", async || {
        let list = app.api("/api/reservations").await;
        list["reservations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["task_sid"] == s.demo.task.as_str() && r["status"] == "accepted")
            .then_some(())
    })
    .await;

    // Wider screens: rows, not cards, and still one line per request however long its path.
    for width in [1024, 1920] {
        browser.emulate(width, false).await;
        open(&browser, app, "/").await;
        let (heights, line) = request_cell_heights(&browser).await;
        assert!(
            heights.iter().all(|h| *h <= line * 1.5),
            "{width} px: every request cell one line ({line} px): {heights:?}"
        );
    }
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// The text of the element `css`, as shown.
pub async fn text_of(browser: &Browser, css: &str) -> String {
    wait_for(browser, css).await.text().await.unwrap()
}

/// Whether the element `css` is displayed.
async fn shown(browser: &Browser, css: &str) -> bool {
    wait_for(browser, css).await.is_displayed().await.unwrap()
}

/// A body over the display limit says how much is shown of how much, in Pretty (original key
/// order), Raw and Hex tabs, and its download link saves exactly the stored bytes.
#[tokio::test]
async fn bodies_show_as_they_came_and_a_cut_one_downloads_whole() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let c = &browser.client;
    let stored = app
        .latest(100)
        .await
        .into_iter()
        .find(|r| r.summary.id == s.big)
        .unwrap();
    let total = stored.body.len();
    let exact = taskhook::inspector::view::thousands(total as u64);
    open(
        &browser,
        app,
        &format!("/requests/{}?token={INSPECTOR_TOKEN}", s.big),
    )
    .await;

    wait_for(&browser, "#t-body").await.click().await.unwrap();
    let note = text_of(&browser, "#body-cut").await;
    assert!(
        note.starts_with(&format!(
            "showing the first 256.0 KiB of 300.0 KiB ({exact} bytes)"
        )),
        "{note}"
    );
    wait_for(&browser, "#t-summary")
        .await
        .click()
        .await
        .unwrap();
    let size = text_of(&browser, "#body-size").await;
    wait_for(&browser, "#t-body").await.click().await.unwrap();
    assert_eq!(size, format!("300.0 KiB ({exact} bytes)"), "sizes agree");

    // Pretty first, keys in the order they were sent (zeta before alpha).
    assert_eq!(
        c.find(Locator::Css("#body-tab-pretty"))
            .await
            .unwrap()
            .attr("aria-selected")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    let pretty = text_of(&browser, "#body-pretty").await;
    assert!(
        pretty.starts_with("{\n  \"zeta\": 1,\n  \"alpha\": 2,\n  \"items\": ["),
        "{}",
        &pretty[..80]
    );
    assert!(!shown(&browser, "#body-raw").await);

    wait_for(&browser, "#body-tab-raw")
        .await
        .click()
        .await
        .unwrap();
    assert!(shown(&browser, "#body-raw").await);
    assert!(!shown(&browser, "#body-pretty").await);
    // Raw was not in the page (the body is sent once): chosen, it is fetched, the first 256 KiB.
    let raw = text_of(&browser, "#body-raw:not([data-src])").await;
    assert!(
        raw.starts_with("{\"zeta\":1,\"alpha\":2,\"items\":[\""),
        "{}",
        &raw[..60]
    );
    let raw_len = c
        .execute(
            "return document.getElementById('body-raw').textContent.length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        raw_len,
        json!(256 * 1024),
        "the part shown, as the note says"
    );

    // Keyboard: arrow right from Raw selects Hex.
    wait_for(&browser, "#body-tab-raw")
        .await
        .send_keys(&fantoccini::key::Key::Right.to_string())
        .await
        .unwrap();
    assert!(shown(&browser, "#body-hex").await);
    wait_for(&browser, "#body-hex pre:not([data-src])").await;
    let hex = text_of(&browser, "#body-hex").await;
    assert!(
        hex.starts_with("hex of the first 16.0 KiB of 300.0 KiB"),
        "{hex}"
    );
    assert!(
        hex.contains("00000000  7b 22 7a 65 74 61 22 3a"),
        "{}",
        &hex[..200]
    );
    browser.screenshot("ui-body-hex").await;

    // The download link in the note saves the exact stored bytes.
    let dir = tempfile::tempdir().unwrap();
    browser
        .cdp(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": dir.path().to_str().unwrap() }),
        )
        .await;
    wait_for(&browser, "#body-tab-pretty")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#body-cut a[download]")
        .await
        .click()
        .await
        .unwrap();
    let file = dir
        .path()
        .join(format!("taskhook-{}-request-body.bin", s.big));
    let saved = eventually("the download", async || {
        std::fs::read(&file).ok().filter(|b| b.len() == total)
    })
    .await;
    assert!(saved == stored.body, "the download is the stored bytes");
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// The current URL's path and query.
async fn here(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The id of the request the pane shows, once it shows `id`.
async fn pane_shows(browser: &Browser, id: i64) {
    wait_for(
        browser,
        &format!("#pane:not([hidden]) article.request-detail[data-id='{id}']"),
    )
    .await;
}

/// A marker set in the page: still there means no page load happened since.
async fn mark_page(browser: &Browser) {
    browser
        .client
        .execute("window.__samePage = 'yes'; return true;", vec![])
        .await
        .unwrap();
}

async fn same_page(browser: &Browser) -> bool {
    browser
        .client
        .execute("return window.__samePage === 'yes';", vec![])
        .await
        .unwrap()
        == json!(true)
}

/// From 1280 px the list and the selected request's detail sit side by side: a click or j/k shows
/// a request without a page load, the URL names it, Back goes to the one before; below 1280 px
/// the detail covers the list and Escape closes it.
#[tokio::test]
async fn the_split_view_shows_a_request_beside_the_list_without_a_page_load() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let c = &browser.client;
    browser.emulate(1920, false).await;
    open(&browser, app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    mark_page(&browser).await;

    let row = format!("#requests tr[data-id='{}']", s.assignment);
    wait_for(&browser, &format!("{row} a.req"))
        .await
        .click()
        .await
        .unwrap();
    pane_shows(&browser, s.assignment).await;
    assert!(same_page(&browser).await, "no page load");
    assert_eq!(here(&browser).await, format!("/?open={}", s.assignment));
    let title = text_of(&browser, "#pane #detail-title").await;
    assert_eq!(
        title.split_whitespace().collect::<Vec<_>>(),
        ["POST", "/assignment"]
    );
    assert!(
        text_of(&browser, "#pane #d-summary")
            .await
            .contains("Alice"),
        "the Summary tab has the worker"
    );
    let side = c
        .execute(
            "const l = document.getElementById('requests').getBoundingClientRect();
             const p = document.getElementById('pane').getBoundingClientRect();
             return [l.right <= p.left, Math.round(p.top) < 300];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(side, json!([true, true]), "list left, detail right");
    assert_eq!(
        wait_for(&browser, &row)
            .await
            .attr("aria-selected")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.screenshot("ui-split-1920").await;

    // Tabs: Body shows the body, Summary is hidden.
    wait_for(&browser, "#pane #t-body")
        .await
        .click()
        .await
        .unwrap();
    assert!(shown(&browser, "#pane #d-body").await);
    assert!(!shown(&browser, "#pane #d-summary").await);
    assert!(
        text_of(&browser, "#pane #d-body")
            .await
            .contains("TaskSid =")
    );

    // j moves the selection (roving tabindex: the selected row is the focused one).
    let next = c
        .execute(
            &format!(
                "const r = document.querySelector(\"{row}\").nextElementSibling; return Number(r.dataset.id);"
            ),
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    c.execute(
        &format!("document.querySelector(\"{row}\").focus(); return true;"),
        vec![],
    )
    .await
    .unwrap();
    c.active_element()
        .await
        .unwrap()
        .send_keys("j")
        .await
        .unwrap();
    pane_shows(&browser, next).await;
    let focused = c
        .execute(
            "const a = document.activeElement; return [a.dataset.id, a.getAttribute('aria-selected'), a.tabIndex];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!([next.to_string(), "true", 0]));
    assert_eq!(here(&browser).await, format!("/?open={next}"));
    assert!(same_page(&browser).await, "no page load");

    // Back returns to the first selection, still without a page load.
    c.back().await.unwrap();
    pane_shows(&browser, s.assignment).await;
    assert_eq!(here(&browser).await, format!("/?open={}", s.assignment));
    assert!(same_page(&browser).await);

    // The URL is shareable: loading it shows the same split.
    open(&browser, app, &format!("/?open={next}")).await;
    pane_shows(&browser, next).await;
    assert!(!same_page(&browser).await, "that one was a page load");

    // The hostile corpus stays inert when its detail arrives as a fragment.
    for id in &s.hostile {
        open(&browser, app, "/").await;
        wait_for(&browser, &format!("#requests tr[data-id='{id}'] a.req"))
            .await
            .click()
            .await
            .unwrap();
        pane_shows(&browser, *id).await;
        for tab in ["#t-fields", "#t-headers", "#t-body", "#t-response"] {
            if let Ok(t) = c.find(Locator::Css(&format!("#pane {tab}"))).await {
                t.click().await.unwrap();
            }
        }
        assert_inert(&browser, &format!("the pane of #{id}")).await;
    }

    // Below 1280 px the detail covers the list; Escape closes it.
    browser.emulate(1024, true).await;
    open(&browser, app, "/").await;
    wait_for(&browser, &format!("{row} a.req"))
        .await
        .click()
        .await
        .unwrap();
    pane_shows(&browser, s.assignment).await;
    let over = c
        .execute(
            "const p = document.getElementById('pane'); const r = p.getBoundingClientRect();
             return [getComputedStyle(p).position, Math.round(r.left), Math.round(r.width) === innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        over,
        json!(["fixed", 0, true]),
        "the detail covers the list"
    );
    browser.screenshot("ui-overlay-1024-dark").await;
    c.active_element()
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Escape.to_string())
        .await
        .unwrap();
    wait_for(&browser, "#pane[hidden]").await;
    assert_eq!(here(&browser).await, "/");
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// Ids of the list's rows, top to bottom.
async fn row_ids(browser: &Browser) -> Vec<i64> {
    let ids = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#requests tbody tr[data-id]')).map(r => Number(r.dataset.id));",
            vec![],
        )
        .await
        .unwrap();
    ids.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

/// Pause (Space) holds live rows behind an "N new" button; a pinned request floats to the top and
/// stays pinned after a reload; times are absolute to the millisecond with the gap to the row
/// before; the one query box filters by terms and keeps the old parameters working.
#[tokio::test]
async fn stream_controls_pause_pin_clock_and_the_query_box() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let c = &browser.client;
    browser.emulate(1920, false).await;
    open(&browser, app, &format!("/?token={INSPECTOR_TOKEN}")).await;

    let clock = text_of(&browser, "#requests tbody tr:first-child time[data-clock]").await;
    let digits: Vec<bool> = clock.chars().map(|ch| ch.is_ascii_digit()).collect();
    assert!(
        clock.len() == 12 && digits.iter().filter(|d| **d).count() == 9 && &clock[8..9] == ".",
        "HH:MM:SS.mmm: {clock}"
    );
    let gap = text_of(&browser, "#requests tbody tr:first-child .gap").await;
    assert!(gap.starts_with('+') && gap.contains("ms"), "{gap}");

    // Pause with Space: arrivals are counted, not shown, until resumed.
    let before = row_ids(&browser).await;
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(" ")
        .await
        .unwrap();
    wait_for(&browser, "#pause[aria-pressed='true']").await;
    for _ in 0..2 {
        app.post_form("/events", &reservation_event_params("reservation.accepted"))
            .await;
    }
    let counter = wait_for(&browser, "#new-count:not([hidden])").await;
    eventually("2 new", async || {
        (counter.text().await.ok()? == "2 new").then_some(())
    })
    .await;
    assert_eq!(
        row_ids(&browser).await,
        before,
        "nothing added while paused"
    );
    browser.screenshot("ui-paused").await;
    counter.click().await.unwrap();
    wait_for(&browser, "#pause[aria-pressed='false']").await;
    let after = row_ids(&browser).await;
    assert_eq!(after.len(), before.len() + 2, "both shown on resume");
    assert_eq!(after[2..], before[..], "newest first, on top");

    // Pin the assignment: it floats to the top, and stays there after a reload.
    let pin = format!("#requests tr[data-id='{}'] button.pin", s.assignment);
    wait_for(&browser, &pin).await.click().await.unwrap();
    wait_for(&browser, &format!("{pin}[aria-pressed='true']")).await;
    assert_eq!(row_ids(&browser).await[0], s.assignment);
    c.refresh().await.unwrap();
    wait_for(&browser, &format!("{pin}[aria-pressed='true']")).await;
    assert_eq!(
        row_ids(&browser).await[0],
        s.assignment,
        "kept across reloads"
    );
    assert_eq!(text_of(&browser, "#pin-count").await, "1 pinned");
    browser.screenshot("ui-pinned").await;

    // The query box: a term filters, and old-style parameters show as terms.
    let search = wait_for(&browser, "#search").await;
    search.send_keys("kind:assignment").await.unwrap();
    search
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    eventually("the filtered page", async || {
        here(&browser)
            .await
            .contains("q=kind%3Aassignment")
            .then_some(())
    })
    .await;
    wait_for(&browser, "#requests tbody tr").await;
    let kinds = c
        .execute(
            "return Array.from(document.querySelectorAll('#requests tbody .kind')).map(k => k.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let kinds: Vec<&str> = kinds
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|k| *k == "assignment"),
        "{kinds:?}"
    );
    open(&browser, app, "/?kind=event&status=204").await;
    assert_eq!(
        wait_for(&browser, "#search")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("kind:event status:204")
    );
    open(&browser, app, "/?q=kind:bogus").await;
    assert!(
        text_of(&browser, "main")
            .await
            .contains("kind is assignment, event or other"),
        "a bad term gets a clear answer"
    );
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// The Diff tab: an edited replay against its original (the changed field and body line
/// highlighted), and a request against a pinned one, in the split view's pane.
#[tokio::test]
async fn diff_a_replay_against_its_original_and_a_request_against_a_pinned_one() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let c = &browser.client;
    let original = app
        .latest(100)
        .await
        .into_iter()
        .find(|r| r.summary.id == s.assignment)
        .unwrap();
    let body = String::from_utf8(original.body.clone()).unwrap();
    let es = "selected_language%22%3A%22es%22";
    assert!(body.contains(es), "{body}");
    let edited = app
        .post_json(
            &format!("/api/requests/{}/replay", s.assignment),
            json!({ "body": body.replace(es, "selected_language%22%3A%22fr%22") }),
        )
        .await;
    assert_eq!(edited.status(), 201);
    let edited = edited.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    browser.emulate(1920, false).await;
    open(
        &browser,
        app,
        &format!("/requests/{edited}?token={INSPECTOR_TOKEN}"),
    )
    .await;
    wait_for(&browser, "#t-diff").await.click().await.unwrap();
    let head = text_of(&browser, "#diff-head").await;
    assert!(
        head.contains(&format!(
            "#{edited} compared with #{} POST /assignment",
            s.assignment
        )) && head.contains("(the original it replays)"),
        "{head}"
    );
    let changed = text_of(&browser, "#diff-fields tr.changed").await;
    assert!(
        changed.starts_with("TaskAttributes") && changed.contains("es") && changed.contains("fr"),
        "{changed}"
    );
    let removed = text_of(&browser, "#diff-body .line.removed").await;
    let added = text_of(&browser, "#diff-body .line.added").await;
    assert!(
        removed.starts_with("- ") && removed.contains("es"),
        "{removed}"
    );
    assert!(added.starts_with("+ ") && added.contains("fr"), "{added}");
    browser.screenshot("ui-diff-replay").await;

    // Against a pinned request, in the pane: pin the batch, open the assignment, compare.
    open(&browser, app, "/").await;
    wait_for(
        &browser,
        &format!("#requests tr[data-id='{}'] button.pin", s.batch),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_for(
        &browser,
        &format!("#requests tr[data-id='{}'] a.req", s.assignment),
    )
    .await
    .click()
    .await
    .unwrap();
    pane_shows(&browser, s.assignment).await;
    wait_for(&browser, "#pane #t-diff")
        .await
        .click()
        .await
        .unwrap();
    assert!(
        text_of(&browser, "#pane #diff-none")
            .await
            .contains("Pin a request")
    );
    wait_for(
        &browser,
        &format!("#pane #pinned-choices button[data-against='{}']", s.batch),
    )
    .await
    .click()
    .await
    .unwrap();
    let head = eventually("the pinned diff", async || {
        let t = c
            .find(Locator::Css("#pane #diff-head"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(t)
    })
    .await;
    assert!(
        head.contains(&format!(
            "#{} compared with #{} POST /streams",
            s.assignment, s.batch
        )),
        "{head}"
    );
    assert!(
        shown(&browser, "#pane #d-diff").await,
        "the Diff tab stays open"
    );
    browser.screenshot("ui-diff-pinned").await;

    // Bad input: a clear answer.
    open(&browser, app, &format!("/requests/{edited}?against=abc")).await;
    assert!(
        text_of(&browser, "main")
            .await
            .contains("against must be a request number")
    );
    open(&browser, app, &format!("/requests/{edited}?against=999999")).await;
    assert!(
        text_of(&browser, "main")
            .await
            .contains("no request 999999 to compare with")
    );
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// The empty list says where to point TaskRouter and gives a curl that works: copied, run, and
/// its request appears live.
#[tokio::test]
async fn the_empty_list_shows_the_capture_url_and_a_curl_that_works() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    open(&browser, &app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    let url = text_of(&browser, "#capture-url").await;
    assert_eq!(url, format!("http://{}", app.addr));
    wait_for(&browser, "#copy-capture-url")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#toast:not([hidden])").await;
    assert_eq!(browser.clipboard_text().await, url);
    browser.screenshot("ui-empty").await;
    let curl = text_of(&browser, "#try-curl").await;
    wait_for(&browser, "#copy-try-curl")
        .await
        .click()
        .await
        .unwrap();
    eventually("the curl copied", async || {
        (browser.clipboard_text().await == curl).then_some(())
    })
    .await;
    let ran = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&curl)
        .output()
        .await
        .expect("sh runs");
    assert!(ran.status.success(), "{curl}: {ran:?}");
    let row = wait_for(&browser, "#requests tbody tr[data-id]").await;
    assert!(row.text().await.unwrap().contains("task.created"));
    assert!(
        !shown(&browser, "#empty").await,
        "the empty state goes once a request arrives"
    );
    browser.close().await;
}

/// Two tasks' timelines side by side: the same scenario run twice, compared by clicking.
#[tokio::test]
async fn two_task_timelines_side_by_side() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let s = seeded().await;
    let app = &s.demo.app;
    let second = s
        .demo
        .sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    // Alice is reserved by the first task: the second one waits in the queue.
    eventually("the second task's task.created", async || {
        let list = app
            .api(&format!(
                "/api/requests?event_type=task.created&task_sid={second}"
            ))
            .await;
        list["requests"][0]["id"].as_i64()
    })
    .await;
    browser.emulate(1920, false).await;
    open(
        &browser,
        app,
        &format!("/tasks/{}?token={INSPECTOR_TOKEN}", s.demo.task),
    )
    .await;
    let input = wait_for(&browser, ".compare-form input[name='compare']").await;
    input.send_keys(&second).await.unwrap();
    wait_for(&browser, ".compare-form button[type='submit']")
        .await
        .click()
        .await
        .unwrap();
    let caption = text_of(&browser, "#timeline-compare figcaption").await;
    assert!(
        caption.starts_with(&taskhook::inspector::view::short_sid(&second))
            && caption.contains("created"),
        "{caption}"
    );
    let side = browser
        .client
        .execute(
            "const a = document.getElementById('timeline').getBoundingClientRect();
             const b = document.getElementById('timeline-compare').getBoundingClientRect();
             return [a.right <= b.left, Math.abs(a.top - b.top) < 2];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(side, json!([true, true]), "side by side");
    browser.screenshot("ui-task-compare").await;
    open(
        &browser,
        app,
        &format!("/tasks/{}?compare=nope", s.demo.task),
    )
    .await;
    assert!(
        text_of(&browser, "main").await.contains("compare:"),
        "a clear error"
    );
    browser.close().await;
    s.demo.sim.shutdown().await;
}

/// A second task, for lists with two of them.
const TASK_B: &str = "WTfedcba9876543210fedcba9876543210";

/// An event callback about `task` (named `name` in its attributes).
async fn task_event(app: &TestApp, task: &str, event: &str, name: &str) -> i64 {
    let attributes = format!(r#"{{"name":"{name}"}}"#);
    let description = format!("{event} for {name}");
    let fields = [
        ("EventType", event),
        ("AccountSid", ACCOUNT),
        ("WorkspaceSid", WORKSPACE),
        ("TaskSid", task),
        ("TaskAttributes", attributes.as_str()),
        ("ResourceType", "Task"),
        ("ResourceSid", task),
        ("Timestamp", "1795864020"),
        ("EventDescription", description.as_str()),
    ];
    assert_eq!(app.post_form("/events", &fields).await.status(), 204);
    app.latest(1).await[0].summary.id
}

/// What the list shows, top to bottom, hidden rows left out: `["group", task, count, marks,
/// latest event, label]` for a group row, `["row", id]` for a request.
async fn shown_rows(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#requests tbody tr')).filter(r => !r.hidden)
               .map(r => r.classList.contains('group')
                 ? ['group', r.dataset.group, r.querySelector('.group-count').textContent,
                    r.querySelectorAll('ol.mini-timeline > li').length,
                    r.querySelector('.group-latest .kind').textContent, r.querySelector('.group-label').textContent]
                 : ['row', Number(r.dataset.id)]);",
            vec![],
        )
        .await
        .unwrap()
}

/// The selected row: its id, or its task for a group row.
async fn selected_row(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "const s = document.querySelectorAll('#requests tbody tr.selected');
             return Array.from(s).map(r => r.dataset.id ? Number(r.dataset.id) : r.dataset.group);",
            vec![],
        )
        .await
        .unwrap()
}

async fn press(browser: &Browser, key: &str) {
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
}

/// "Group by task" folds each task's callbacks into one row with a mini timeline (a mark per
/// callback, oldest first); its button opens the callbacks beneath it; j/k skip closed ones; a
/// live callback joins its group (also one held while paused); the choice survives a reload; axe
/// finds nothing at any width in either theme; toggled off, the flat list is back.
#[tokio::test]
async fn callbacks_of_a_task_group_into_one_row_with_a_mini_timeline() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let c = &browser.client;
    let a1 = task_event(&app, TASK, "task.created", "Support call").await;
    let b1 = task_event(&app, TASK_B, "task.created", "Sales chat").await;
    let a2 = task_event(&app, TASK, "reservation.created", "Support call").await;
    app.client
        .post(app.url("/hello"))
        .body("no task here")
        .send()
        .await
        .unwrap();
    let plain = app.latest(1).await[0].summary.id;
    let b2 = task_event(&app, TASK_B, "reservation.created", "Sales chat").await;
    let a3 = task_event(&app, TASK, "reservation.accepted", "Support call").await;

    browser.emulate(1920, false).await;
    open(&browser, &app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    assert_eq!(row_ids(&browser).await, [a3, b2, plain, a2, b1, a1]);
    assert_eq!(shown_rows(&browser).await.as_array().unwrap().len(), 6);
    browser.screenshot("ui-flat-1920-light").await;

    wait_for(&browser, "#group[aria-pressed='false']")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, "#group[aria-pressed='true']").await;
    let grouped = json!([
        [
            "group",
            TASK,
            "3 callbacks",
            3,
            "reservation.accepted",
            "Support call"
        ],
        [
            "group",
            TASK_B,
            "2 callbacks",
            2,
            "reservation.created",
            "Sales chat"
        ],
        ["row", plain]
    ]);
    assert_eq!(shown_rows(&browser).await, grouped);
    // The marks: oldest first, coloured by event, each named.
    let marks = c
        .execute(
            &format!(
                "return Array.from(document.querySelectorAll(\"tr.group[data-group='{TASK}'] ol.mini-timeline > li\"))
                   .map(li => [li.className, li.textContent]);"
            ),
            vec![],
        )
        .await
        .unwrap();
    let marks = marks.as_array().unwrap();
    assert_eq!(
        marks.iter().map(|m| m[0].clone()).collect::<Vec<_>>(),
        ["mark m-neutral", "mark m-pending", "mark m-ok"]
    );
    for (mark, event) in marks.iter().zip([
        "task.created",
        "reservation.created",
        "reservation.accepted",
    ]) {
        let name = mark[1].as_str().unwrap();
        assert!(name.starts_with(&format!("{event} at ")), "{name}");
    }
    let list = c
        .execute(
            &format!(
                "return document.querySelector(\"tr.group[data-group='{TASK}'] ol\").getAttribute('aria-label');"
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        list,
        json!("Timeline of task WT0123…cdef: 3 callbacks, oldest first")
    );

    // Open task A's group: its callbacks beneath it, newest first.
    let disclose = format!("tr.group[data-group='{TASK}'] button.disclose");
    wait_for(&browser, &disclose).await.click().await.unwrap();
    wait_for(&browser, &format!("{disclose}[aria-expanded='true']")).await;
    assert_eq!(
        shown_rows(&browser).await,
        json!([
            grouped[0],
            ["row", a3],
            ["row", a2],
            ["row", a1],
            grouped[1],
            ["row", plain]
        ])
    );
    // Its row is selected, and at this width the pane shows its newest callback.
    assert_eq!(selected_row(&browser).await, json!([TASK]));
    pane_shows(&browser, a3).await;

    // j walks through the open group's callbacks, then onto task B's group (its newest in the
    // pane); closed, task A's callbacks are skipped by k.
    c.execute(
        &format!("document.querySelector(\"tr.group[data-group='{TASK}']\").focus(); return true;"),
        vec![],
    )
    .await
    .unwrap();
    for want in [json!(a3), json!(a2), json!(a1), json!(TASK_B)] {
        press(&browser, "j").await;
        assert_eq!(selected_row(&browser).await, json!([want]));
    }
    pane_shows(&browser, b2).await;
    wait_for(&browser, &disclose).await.click().await.unwrap();
    wait_for(&browser, &format!("{disclose}[aria-expanded='false']")).await;
    assert_eq!(shown_rows(&browser).await, grouped);
    // The click selected task A's group row; j / k step over its closed callbacks.
    assert_eq!(selected_row(&browser).await, json!([TASK]));
    for want in [json!(TASK_B), json!(plain)] {
        press(&browser, "j").await;
        assert_eq!(selected_row(&browser).await, json!([want]));
    }
    for want in [json!(TASK_B), json!(TASK)] {
        press(&browser, "k").await;
        assert_eq!(
            selected_row(&browser).await,
            json!([want]),
            "closed members skipped"
        );
    }
    // Enter opens the selected group, and again closes it.
    press(&browser, &fantoccini::key::Key::Enter.to_string()).await;
    wait_for(&browser, &format!("{disclose}[aria-expanded='true']")).await;
    press(&browser, &fantoccini::key::Key::Enter.to_string()).await;
    wait_for(&browser, &format!("{disclose}[aria-expanded='false']")).await;

    // A live callback joins its group: count, timeline and place follow.
    let b3 = task_event(&app, TASK_B, "task.completed", "Sales chat").await;
    let joined = json!([
        [
            "group",
            TASK_B,
            "3 callbacks",
            3,
            "task.completed",
            "Sales chat"
        ],
        grouped[0],
        ["row", plain]
    ]);
    eventually("task B's group grows and moves up", async || {
        (shown_rows(&browser).await == joined).then_some(())
    })
    .await;
    // Paused, it waits with the others; resumed, it joins.
    wait_for(&browser, "#pause").await.click().await.unwrap();
    let a4 = task_event(&app, TASK, "task.completed", "Support call").await;
    wait_for(&browser, "#new-count:not([hidden])").await;
    assert_eq!(
        shown_rows(&browser).await,
        joined,
        "nothing moves while paused"
    );
    wait_for(&browser, "#new-count")
        .await
        .click()
        .await
        .unwrap();
    eventually("task A's group takes the held callback", async || {
        let rows = shown_rows(&browser).await;
        (rows[0]
            == json!([
                "group",
                TASK,
                "4 callbacks",
                4,
                "task.completed",
                "Support call"
            ]))
        .then_some(())
    })
    .await;

    // Remembered across a reload; axe finds nothing at any width, in both themes, with a group
    // open; nothing scrolls sideways.
    c.refresh().await.unwrap();
    wait_for(&browser, "#group[aria-pressed='true']").await;
    wait_for(&browser, &format!("tr.group[data-group='{TASK_B}']")).await;
    let mut failures = Vec::new();
    for dark in [false, true] {
        let theme = if dark { "dark" } else { "light" };
        for width in WIDTHS {
            browser.emulate(width, dark).await;
            open(&browser, &app, "/").await;
            wait_for(&browser, &disclose).await.click().await.unwrap();
            wait_for(&browser, &format!("{disclose}[aria-expanded='true']")).await;
            for v in browser.axe_violations().await {
                failures.push(format!("grouped {width}px {theme}: {v}"));
            }
            let wide = overflow(&browser).await;
            if wide > 0 {
                failures.push(format!(
                    "grouped {width}px {theme}: scrolls sideways by {wide} px"
                ));
            }
            browser
                .screenshot(&format!("ui-grouped-{width}-{theme}"))
                .await;
            // The same list flat, for the screenshots.
            press(&browser, "g").await;
            wait_for(&browser, "#group[aria-pressed='false']").await;
            browser
                .screenshot(&format!("ui-flat-{width}-{theme}"))
                .await;
            press(&browser, "g").await;
            wait_for(&browser, "#group[aria-pressed='true']").await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // g turns it off: the flat list, newest first, every row shown.
    browser.emulate(1920, false).await;
    open(&browser, &app, "/").await;
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("g")
        .await
        .unwrap();
    wait_for(&browser, "#group[aria-pressed='false']").await;
    assert_eq!(row_ids(&browser).await, [a4, b3, a3, b2, plain, a2, b1, a1]);
    assert_eq!(
        shown_rows(&browser).await.as_array().unwrap().len(),
        8,
        "no group rows, nothing hidden"
    );

    // The hostile corpus grouped (c01 is about task A): names stay text.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    for file in HOSTILE {
        let bytes = std::fs::read(dir.join(format!("{file}.http"))).unwrap();
        raw_exchange(app.addr, &bytes).await;
    }
    open(&browser, &app, "/").await;
    press(&browser, "g").await;
    wait_for(&browser, "#group[aria-pressed='true']").await;
    c.execute(
        "document.querySelectorAll('tr.group button.disclose').forEach(b => b.click()); return true;",
        vec![],
    )
    .await
    .unwrap();
    assert_inert(&browser, "the grouped list").await;
    browser.screenshot("ui-grouped-hostile").await;
    browser.close().await;
}

/// After Accept, the focus is on that reservation's answer — on the list's Decide buttons and
/// in the pending-reservation tray (whose item stays while the answer has the focus) — not lost
/// to the page when live rows arrive or the tray redraws.
#[tokio::test]
async fn focus_lands_on_the_answer_after_accept_in_the_list_and_the_tray() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let Demo { sim, app, task } = demo().await;
    let c = &browser.client;
    let first = crate::workbench::reservation_of(&app, &task, "pending").await;
    let wr = first["reservation_sid"].as_str().unwrap().to_owned();
    browser.emulate(1920, false).await;
    open(&browser, &app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    let focused = async |browser: &Browser| {
        browser
            .client
            .execute(
                "const a = document.activeElement; const d = a.closest('[data-reservation]');
                 return [a.tagName, a.textContent, d ? d.dataset.reservation : null,
                         a.closest('#requests') ? 'list' : a.closest('#tray') ? 'tray' : 'elsewhere'];",
                vec![],
            )
            .await
            .unwrap()
    };

    // The list's Accept.
    let decide = format!("#requests .decide[data-reservation='{wr}']");
    let before = row_ids(&browser).await.len();
    wait_for(&browser, &format!("{decide} button[data-action='accept']"))
        .await
        .click()
        .await
        .unwrap();
    wait_for(&browser, &format!("{decide} output.result.ok")).await;
    let want = json!(["OUTPUT", "accept: Alice · accepted", wr, "list"]);
    assert_eq!(focused(&browser).await, want);
    // The reservation.accepted callback arrives live and is put on top: the focus stays.
    eventually("the live reservation.accepted row", async || {
        (row_ids(&browser).await.len() > before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(focused(&browser).await, want, "still there after live rows");

    // The tray's Accept: task 1 done, Alice idle, a second task offered to her.
    let completed = app
        .post_json(&format!("/api/tasks/{task}/complete"), json!({}))
        .await;
    assert_eq!(completed.status(), 200);
    let alice = crate::workbench::alice(&app).await;
    let wk = alice["worker_sid"].as_str().unwrap();
    let idle = app
        .post_json(
            &format!("/api/workers/{wk}/activity"),
            json!({"activity": "Idle"}),
        )
        .await;
    assert_eq!(idle.status(), 200);
    let second = sim
        .create_task(r#"{"selected_language":"es"}"#)
        .await
        .unwrap();
    let pending = crate::workbench::reservation_of(&app, &second, "pending").await;
    let wr2 = pending["reservation_sid"].as_str().unwrap().to_owned();
    let item = format!("#tray:not([hidden]) .tray-item[data-reservation='{wr2}']");
    // The tray redraws as the second task's callbacks arrive: click once it holds still.
    eventually("Accept clicked in the tray", async || {
        c.find(Locator::Css(&format!(
            "{item} button[data-action='accept']"
        )))
        .await
        .ok()?
        .click()
        .await
        .ok()
    })
    .await;
    wait_for(&browser, &format!("{item} output.result.ok")).await;
    let want = json!(["OUTPUT", "accept: Alice · accepted", wr2, "tray"]);
    assert_eq!(focused(&browser).await, want);
    // The tray redraws (the reservation is no longer pending): the answered item stays a
    // moment, the focus on its answer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        focused(&browser).await,
        want,
        "still there after the tray redrew"
    );
    browser.screenshot("ui-tray-answer-focused").await;
    // Then it goes, the empty tray hides, and the focus moves to that reservation's status in
    // its list row instead of being lost.
    wait_for(&browser, "#tray[hidden]").await;
    let moved = c
        .execute(
            "const a = document.activeElement; const d = a.closest('.decide');
             return [a.className, a.textContent, d ? d.dataset.reservation : null, !!a.closest('#requests')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(moved, json!(["res-status accepted", "accepted", wr2, true]));
    browser.close().await;
    sim.shutdown().await;
}

/// A pinned request older than the page is fetched as a row and shown on top with the other
/// pins (marked as not on this page), works like any row, goes when unpinned; a pin whose
/// request is gone is dropped; a filtered list shows only what matches.
#[tokio::test]
async fn a_pinned_request_older_than_the_page_is_fetched_and_shown_on_top() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app().await;
    let c = &browser.client;
    // The oldest: the corpus request with markup in its path and query.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let bytes = std::fs::read(dir.join("c07-path-and-query-markup-encoded.http")).unwrap();
    raw_exchange(app.addr, &bytes).await;
    let oldest = app.latest(1).await[0].summary.id;
    for _ in 0..105 {
        app.post_form("/events", &reservation_event_params("reservation.accepted"))
            .await;
    }
    browser.emulate(1920, false).await;
    open(&browser, &app, &format!("/?token={INSPECTOR_TOKEN}")).await;
    assert_eq!(row_ids(&browser).await.len(), 100);
    assert!(!row_ids(&browser).await.contains(&oldest));

    // Pin it on the older page.
    wait_for(&browser, "a[rel='next']")
        .await
        .click()
        .await
        .unwrap();
    let pin = format!("#requests tr[data-id='{oldest}'] button.pin");
    wait_for(&browser, &pin).await.click().await.unwrap();
    wait_for(&browser, &format!("{pin}[aria-pressed='true']")).await;

    // Back on the newest page it is on top, fetched, marked, pinned.
    open(&browser, &app, "/").await;
    let row = format!("#requests tr.off-page.pinned[data-id='{oldest}']");
    wait_for(&browser, &row).await;
    assert_eq!(row_ids(&browser).await[0], oldest);
    assert_eq!(row_ids(&browser).await.len(), 101);
    assert!(
        text_of(&browser, &format!("{row} .c-req"))
            .await
            .contains("pinned · not on this page")
    );
    assert_eq!(text_of(&browser, "#pin-count").await, "1 pinned");
    wait_for(&browser, &format!("{pin}[aria-pressed='true']")).await;
    assert_inert(&browser, "a fetched pinned row").await;
    assert!(browser.axe_violations().await.is_empty());
    browser.screenshot("ui-pinned-off-page").await;
    // Like any row: a click shows it in the pane.
    wait_for(&browser, &format!("{row} a.req"))
        .await
        .click()
        .await
        .unwrap();
    pane_shows(&browser, oldest).await;
    // Unpinned, it goes.
    wait_for(&browser, &pin).await.click().await.unwrap();
    eventually("the row gone", async || {
        (!row_ids(&browser).await.contains(&oldest)).then_some(())
    })
    .await;
    assert_eq!(text_of(&browser, "#pin-count").await, "");

    // A pin whose request no longer exists is dropped; a filtered list fetches none.
    c.execute(
        &format!("localStorage.setItem('taskhook.pins', JSON.stringify([999999, {oldest}])); return true;"),
        vec![],
    )
    .await
    .unwrap();
    open(&browser, &app, "/?q=kind:other").await;
    assert!(!row_ids(&browser).await.contains(&999999));
    let filtered = row_ids(&browser).await;
    assert!(
        filtered.iter().all(|id| *id == oldest),
        "only the matching row: {filtered:?}"
    );
    open(&browser, &app, "/").await;
    wait_for(&browser, &row).await;
    let kept = eventually("the gone pin dropped", async || {
        let pins = c
            .execute("return localStorage.getItem('taskhook.pins');", vec![])
            .await
            .ok()?;
        (pins == json!(format!("[{oldest}]"))).then_some(pins)
    })
    .await;
    assert_eq!(kept, json!(format!("[{oldest}]")));
    browser.close().await;
}
