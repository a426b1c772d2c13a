//! Byte-exact request heads, re-read from the bytes the connection actually received.
//!
//! This module owns the *tape*: a per-connection copy of the request heads read from the
//! socket, plus the cursor logic that walks it request by request (head, then body framing).
//! Body bytes are recognised by their framing and dropped as they arrive, so a body is held
//! once in memory (by the service), not twice.
//!
//! It exists because hyper does not let a server see header names as the client wrote
//! them. `http::HeaderMap` lowercases names and groups repeated names together, and the
//! original case that hyper's `preserve_header_case` keeps lives in `HeaderCaseMap`, which
//! is `pub(crate)` in hyper 1.12 (hyperium/hyper#2695 asks for it to be public).
//! Arrival order across different names is lost as well.
//! So [`RecordingIo`] tees every byte read into a [`Tape`], and for each request the
//! service re-parses the head from the tape with `httparse` (the parser hyper itself uses)
//! via [`Tape::take_head`], which starts skipping the body's wire bytes; [`Tape::finish_body`]
//! checks that they have all gone by.
//!
//! The tape is best effort. Whenever it cannot be sure it is in step with hyper (a
//! mismatched parse, missing framing bytes, the byte cap exceeded, an unread body), it
//! becomes *lost* for the rest of the connection. After that every call returns `None`
//! or does nothing, and the caller falls back to hyper's `HeaderMap`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Header slots given to `httparse`. hyper allows 100 by default; more than this is lost.
const MAX_HEADERS: usize = 128;

/// One header exactly as it arrived: name with its original case, raw value bytes (may be non-UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    pub name: String,
    pub value: Vec<u8>,
}

/// The request head as re-read from the tape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHead {
    pub method: String,
    pub target: String,
    pub headers: Vec<RawHeader>,
}

/// How the body following a head is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Debug)]
struct State {
    /// Bytes from the cursor onward; everything before the cursor has already been dropped.
    buf: Vec<u8>,
    cap: usize,
    lost: bool,
    /// The body whose head was taken: its bytes are dropped as they arrive, never kept, so a
    /// body costs one copy in memory (the service's), not two.
    skipping: Option<Skip>,
}

impl State {
    fn lose(&mut self) {
        self.lost = true;
        self.buf = Vec::new();
        self.skipping = None;
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.lost || bytes.is_empty() {
            return;
        }
        let rest = match self.skipping.as_mut().map(|skip| skip.feed(bytes)) {
            None => bytes,
            Some(Fed::Partial) => return,
            Some(Fed::Done(used)) => {
                self.skipping = None;
                &bytes[used..]
            }
            Some(Fed::Malformed) => return self.lose(),
        };
        match self.buf.len().checked_add(rest.len()) {
            Some(total) if total <= self.cap => self.buf.extend_from_slice(rest),
            _ => self.lose(),
        }
    }

    /// Moves the cursor `n` bytes forward, dropping them.
    fn consume(&mut self, n: usize) {
        if n >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..n);
        }
    }

    /// Starts skipping the body that follows a head just taken, beginning with whatever of it
    /// hyper has already read ahead onto the tape.
    fn skip_body(&mut self, framing: Framing) {
        let mut skip = match framing {
            Framing::Empty => return,
            Framing::Length(0) => return,
            Framing::Length(n) => Skip::Length(n),
            Framing::Chunked => Skip::Chunked(Chunks::Size(Vec::new())),
        };
        match skip.feed(&self.buf) {
            Fed::Partial => {
                self.buf.clear();
                self.skipping = Some(skip);
            }
            Fed::Done(used) => self.consume(used),
            Fed::Malformed => self.lose(),
        }
    }

    /// True once the body being skipped, if any, has ended; otherwise the tape is lost (its
    /// bytes did not all pass through, or they did not frame as hyper framed them).
    fn body_done(&mut self) -> bool {
        if self.skipping.is_some() {
            self.lose();
        }
        !self.lost
    }
}

/// What [`Skip::feed`] made of some bytes.
#[derive(Debug, PartialEq, Eq)]
enum Fed {
    /// All of them belong to the body, which goes on.
    Partial,
    /// The body ended after this many of them; the rest follow it.
    Done(usize),
    /// They do not frame a body (hyper refuses the request too).
    Malformed,
}

/// A body being skipped on the wire.
#[derive(Debug)]
enum Skip {
    /// `Content-Length` bytes still to come.
    Length(u64),
    Chunked(Chunks),
}

/// Longest chunk-size line (with extensions) or trailer line kept while skipping. hyper
/// refuses far shorter extensions, so a longer line only means the tape cannot follow.
const MAX_LINE: usize = 128 * 1024;

/// Where a skipped chunked body is: chunk-size lines (with extensions), chunk data and their
/// CRLFs, the last chunk, the trailer section and the final empty line.
#[derive(Debug)]
enum Chunks {
    /// A chunk-size line so far (kept until its LF, to be parsed by `httparse` as hyper does).
    Size(Vec<u8>),
    /// Chunk data bytes still to come.
    Data(u64),
    /// How many bytes of the CRLF after chunk data were seen.
    DataEnd(usize),
    /// A trailer line: its length so far, and whether its CR was seen. hyper reads a trailer
    /// line up to the first CR, which must be followed by LF; an empty one ends the body.
    Trailer(usize, bool),
}

impl Skip {
    fn feed(&mut self, bytes: &[u8]) -> Fed {
        match self {
            Skip::Length(rest) => {
                let take = usize::try_from(*rest).map_or(bytes.len(), |r| r.min(bytes.len()));
                *rest -= take as u64;
                if *rest == 0 {
                    Fed::Done(take)
                } else {
                    Fed::Partial
                }
            }
            Skip::Chunked(chunks) => chunks.feed(bytes),
        }
    }
}

impl Chunks {
    fn feed(&mut self, bytes: &[u8]) -> Fed {
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            match self {
                Chunks::Size(line) => {
                    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                        if line.len() + rest.len() > MAX_LINE {
                            return Fed::Malformed;
                        }
                        line.extend_from_slice(rest);
                        return Fed::Partial;
                    };
                    line.extend_from_slice(&rest[..=lf]);
                    i += lf + 1;
                    *self = match httparse::parse_chunk_size(line) {
                        Ok(httparse::Status::Complete((used, 0))) if used == line.len() => {
                            Chunks::Trailer(0, false)
                        }
                        Ok(httparse::Status::Complete((used, size))) if used == line.len() => {
                            Chunks::Data(size)
                        }
                        _ => return Fed::Malformed,
                    };
                }
                Chunks::Data(left) => {
                    let take = usize::try_from(*left).map_or(rest.len(), |l| l.min(rest.len()));
                    i += take;
                    *left -= take as u64;
                    if *left == 0 {
                        *self = Chunks::DataEnd(0);
                    }
                }
                Chunks::DataEnd(seen) => {
                    if rest[0] != b"\r\n"[*seen] {
                        return Fed::Malformed;
                    }
                    i += 1;
                    *seen += 1;
                    if *seen == 2 {
                        *self = Chunks::Size(Vec::new());
                    }
                }
                Chunks::Trailer(len, true) => {
                    if rest[0] != b'\n' {
                        return Fed::Malformed;
                    }
                    i += 1;
                    if *len == 0 {
                        return Fed::Done(i);
                    }
                    *self = Chunks::Trailer(0, false);
                }
                Chunks::Trailer(len, saw_cr) => match rest.iter().position(|&b| b == b'\r') {
                    Some(cr) => {
                        *len += cr;
                        *saw_cr = true;
                        i += cr + 1;
                    }
                    None => {
                        *len += rest.len();
                        if *len > MAX_LINE {
                            return Fed::Malformed;
                        }
                        return Fed::Partial;
                    }
                },
            }
        }
        Fed::Partial
    }
}

/// Shared, cheaply clonable handle to the bytes read on one connection.
#[derive(Clone)]
pub struct Tape {
    inner: Arc<Mutex<State>>,
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Tape")
            .field("buffered", &st.buf.len())
            .field("cap", &st.cap)
            .field("lost", &st.lost)
            .field("skipping", &st.skipping)
            .finish()
    }
}

impl Tape {
    /// `cap`: the most bytes the tape will hold at once; beyond it the tape gives up (becomes "lost")
    /// for the rest of the connection.
    ///
    /// The tape holds the current request's head plus whatever hyper read along with it (the
    /// start of the body, pipelined requests), so `cap` should cover the largest head plus
    /// hyper's read buffer. Body bytes that arrive after the head was taken are never held.
    pub fn new(cap: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                buf: Vec::new(),
                cap,
                lost: false,
                skipping: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends bytes read from the connection (what [`RecordingIo`] does; public for the
    /// `tape` fuzz target).
    pub fn push(&self, bytes: &[u8]) {
        self.lock().push(bytes);
    }

    /// Parse the head of the next request at the cursor. Called once per request, in order, by the service,
    /// after hyper has parsed the same head (so its bytes are already on the tape).
    /// `expected_method` / `expected_target` are what hyper parsed (method string and the request-target as sent,
    /// i.e. uri.to_string() for origin-form);
    /// if the tape's parse does not match them, the tape is marked lost and None is returned (the caller then
    /// falls back to hyper's HeaderMap).
    /// On success the cursor moves past the head and the tape starts skipping the body (first what is already
    /// on the tape, then bytes as they arrive).
    ///
    /// If [`Tape::finish_body`] was not called for the previous request (e.g. hyper drained an
    /// unread body itself and kept the connection alive), it is done here first: by the time
    /// hyper has parsed this head, the previous body is entirely on the tape.
    pub fn take_head(&self, expected_method: &str, expected_target: &str) -> Option<RawHead> {
        let mut st = self.lock();
        if st.lost || !st.body_done() {
            return None;
        }
        match parse_head(&st.buf) {
            Some((len, head, framing))
                if head.method == expected_method
                    && target_matches(&head.target, expected_target) =>
            {
                st.consume(len);
                st.skip_body(framing);
                // A body that frames badly loses the tape but not this head: hyper refuses
                // that request itself, and its head is still worth recording.
                Some(head)
            }
            _ => {
                st.lose();
                None
            }
        }
    }

    /// Called after the request body has been read completely by the service: checks that the body's wire bytes
    /// (Content-Length: that many bytes; chunked: the whole chunked encoding including chunk-size lines, extensions, CRLFs,
    /// the last chunk and any trailer section; neither: zero) have all gone by.
    /// If they have not, or did not frame as expected, the tape is marked lost.
    ///
    /// Without a preceding successful [`Tape::take_head`] (or when called twice) this does nothing.
    pub fn finish_body(&self) {
        self.lock().body_done();
    }

    /// The service did not read the whole body (e.g. it answered 413): the connection is going to close; mark the tape lost.
    pub fn abandon(&self) {
        self.lock().lose();
    }

    /// True once the tape has given up.
    pub fn is_lost(&self) -> bool {
        self.lock().lost
    }
}

/// hyper's `Uri` drops a `#fragment` from the request-target (clients should not send one,
/// but some do), so `uri.to_string()` lacks it; compare without it. `RawHead::target` keeps it.
fn target_matches(raw: &str, expected: &str) -> bool {
    raw == expected || raw.split('#').next() == Some(expected)
}

/// Parses a complete request head at the start of `buf`.
/// Returns the head's length on the wire (including any leading empty lines httparse skips,
/// as hyper does), the head, and the framing of the body that follows.
fn parse_head(buf: &[u8]) -> Option<(usize, RawHead, Framing)> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        // Partial: hyper has parsed this head, so it should be here; errors include TooManyHeaders.
        Ok(httparse::Status::Partial) | Err(_) => return None,
    };
    let method = req.method?.to_owned();
    let target = req.path?.to_owned();
    let headers: Vec<RawHeader> = req
        .headers
        .iter()
        .map(|h| RawHeader {
            name: h.name.to_owned(),
            value: h.value.to_vec(),
        })
        .collect();
    let framing = framing(&headers)?;
    Some((
        len,
        RawHead {
            method,
            target,
            headers,
        },
        framing,
    ))
}

/// Body framing, following hyper's server-side rules header by header.
/// `None` where hyper would reject the request (so the tape cannot be in step anyway).
fn framing(headers: &[RawHeader]) -> Option<Framing> {
    let mut is_te = false;
    let mut is_te_chunked = false;
    let mut content_length: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // hyper looks at the last coding of each TE line; the last line wins.
            is_te = true;
            is_te_chunked = last_coding_is_chunked(&h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if is_te {
                continue;
            }
            let len = decimal(&h.value)?;
            match content_length {
                Some(prev) if prev != len => return None,
                _ => content_length = Some(len),
            }
        }
    }
    if is_te {
        // TE present but not ending in chunked: hyper answers 400.
        return is_te_chunked.then_some(Framing::Chunked);
    }
    Some(content_length.map_or(Framing::Empty, Framing::Length))
}

/// Like hyper's `is_chunked_`: value must be visible ASCII; the last comma-separated
/// element, trimmed, must be `chunked` (case-insensitive).
fn last_coding_is_chunked(value: &[u8]) -> bool {
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return false;
    }
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Plain decimal digits only (no sign, no spaces), without overflow, like hyper's `from_digits`.
fn decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Wire length of a complete chunked body at the start of `buf`; `None` if incomplete or
/// malformed. (The tape skips bodies incrementally; this whole-buffer form is for tests.)
#[cfg(test)]
fn chunked_len(buf: &[u8]) -> Option<usize> {
    match Chunks::Size(Vec::new()).feed(buf) {
        Fed::Done(n) => Some(n),
        Fed::Partial | Fed::Malformed => None,
    }
}

/// AsyncRead + AsyncWrite wrapper: reads are delegated to `inner` and every byte read is appended to the tape
/// (unless the tape is lost — then stop copying; unless appending would exceed the cap — then mark lost and clear the buffer).
/// Writes/flush/shutdown are delegated unchanged.
pub struct RecordingIo<T> {
    inner: T,
    tape: Tape,
}

impl<T> RecordingIo<T> {
    pub fn new(inner: T, tape: Tape) -> Self {
        Self { inner, tape }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RecordingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res
            && let Some(new) = buf.filled().get(before..)
        {
            this.tape.push(new);
        }
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RecordingIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CAP: usize = 64 * 1024;

    fn tape_with(bytes: &[u8]) -> Tape {
        let tape = Tape::new(CAP);
        tape.push(bytes);
        tape
    }

    fn buffered(tape: &Tape) -> Vec<u8> {
        tape.lock().buf.clone()
    }

    fn hdr(name: &str, value: &[u8]) -> RawHeader {
        RawHeader {
            name: name.to_owned(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn keeps_original_case_and_order_with_interleaved_repeats() {
        let tape =
            tape_with(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\n\r\n");
        let head = tape.take_head("GET", "/a?b=1").expect("head");
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/a?b=1");
        assert_eq!(
            head.headers,
            vec![
                hdr("Host", b"x"),
                hdr("X-A", b"1"),
                hdr("x-b", b"2"),
                hdr("X-A", b"3"),
            ]
        );
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn keeps_non_utf8_value_bytes() {
        let tape = tape_with(b"POST /x HTTP/1.1\r\nX-Latin1: caf\xe9 \xff\r\n\r\n");
        let head = tape.take_head("POST", "/x").expect("head");
        assert_eq!(head.headers, vec![hdr("X-Latin1", b"caf\xe9 \xff")]);
    }

    #[test]
    fn two_keep_alive_requests_with_content_length_bodies() {
        let tape = Tape::new(CAP);
        tape.push(b"POST /one HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        let h1 = tape.take_head("POST", "/one").expect("first head");
        assert_eq!(h1.headers, vec![hdr("Content-Length", b"5")]);
        // Body arrives in pieces after the head was taken.
        tape.push(b"he");
        tape.push(b"llo");
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());

        tape.push(b"PUT /two HTTP/1.1\r\ncontent-length: 3\r\nX-Y: z\r\n\r\nabc");
        let h2 = tape.take_head("PUT", "/two").expect("second head");
        assert_eq!(
            h2.headers,
            vec![hdr("content-length", b"3"), hdr("X-Y", b"z")]
        );
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn chunked_with_extensions_and_trailers_then_second_request() {
        let tape = tape_with(
            b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=value;x=\"q\"\r\nhello\r\n\
              A \t; ext\r\n0123456789\r\n\
              0;last=1\r\n\
              X-Trailer: t1\r\nx-other: t2\r\n\
              \r\n\
              GET /next HTTP/1.1\r\nX-Z: 1\r\n\r\n",
        );
        let h1 = tape.take_head("POST", "/c").expect("first head");
        assert_eq!(h1.headers, vec![hdr("Transfer-Encoding", b"chunked")]);
        tape.finish_body();
        assert!(!tape.is_lost());
        assert_eq!(
            buffered(&tape),
            b"GET /next HTTP/1.1\r\nX-Z: 1\r\n\r\n".to_vec()
        );
        let h2 = tape.take_head("GET", "/next").expect("second head");
        assert_eq!(h2.headers, vec![hdr("X-Z", b"1")]);
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn body_bytes_after_the_head_are_never_kept() {
        let tape = Tape::new(CAP);
        tape.push(b"POST /one HTTP/1.1\r\nContent-Length: 100000\r\n\r\nfirst");
        tape.take_head("POST", "/one").expect("head");
        assert!(buffered(&tape).is_empty(), "read-ahead body bytes dropped");
        for _ in 0..(100_000 - 5) / 5 {
            tape.push(b"12345");
            assert!(buffered(&tape).is_empty());
        }
        // The next request may arrive in the same read as the body's last bytes.
        tape.push(b"GET /two HTTP/1.1\r\n\r\n");
        tape.finish_body();
        assert!(!tape.is_lost());
        assert_eq!(
            tape.take_head("GET", "/two").expect("second").target,
            "/two"
        );
    }

    #[test]
    fn a_chunked_body_arriving_byte_by_byte_is_skipped_without_being_kept() {
        let wire: &[u8] = b"5;ext=\"a b\"\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nGET /n HTTP/1.1\r\n\r\n";
        let tape = Tape::new(CAP);
        tape.push(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        tape.take_head("POST", "/c").expect("head");
        let body_end = wire.len() - b"GET /n HTTP/1.1\r\n\r\n".len();
        for (i, byte) in wire.iter().enumerate() {
            tape.push(std::slice::from_ref(byte));
            if i < body_end {
                assert!(buffered(&tape).is_empty(), "byte {i} kept");
            }
        }
        tape.finish_body();
        assert!(!tape.is_lost());
        assert_eq!(tape.take_head("GET", "/n").expect("next").target, "/n");
    }

    #[test]
    fn chunked_without_trailers() {
        let tape = tape_with(
            b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        tape.take_head("POST", "/c").expect("head");
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn pipelined_second_request_already_on_tape() {
        let tape = tape_with(
            b"POST /1 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody\
              GET /2 HTTP/1.1\r\nAccept: */*\r\n\r\n\
              DELETE /3 HTTP/1.1\r\n\r\n",
        );
        let h1 = tape.take_head("POST", "/1").expect("first");
        assert_eq!(h1.headers, vec![hdr("Content-Length", b"4")]);
        // The second request's bytes must survive the first head and body.
        tape.finish_body();
        assert_eq!(
            buffered(&tape),
            b"GET /2 HTTP/1.1\r\nAccept: */*\r\n\r\nDELETE /3 HTTP/1.1\r\n\r\n".to_vec()
        );
        let h2 = tape.take_head("GET", "/2").expect("second");
        assert_eq!(h2.headers, vec![hdr("Accept", b"*/*")]);
        tape.finish_body();
        let h3 = tape.take_head("DELETE", "/3").expect("third");
        assert!(h3.headers.is_empty());
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn take_head_finishes_a_previous_body_that_was_not_finished() {
        let tape =
            tape_with(b"POST /1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\n\r\n");
        tape.take_head("POST", "/1").expect("first");
        let h2 = tape.take_head("GET", "/2").expect("second");
        assert_eq!(h2.target, "/2");
        assert!(!tape.is_lost());
    }

    #[test]
    fn leading_empty_lines_before_next_request_are_skipped_like_hyper() {
        let tape = tape_with(
            b"POST /1 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /2 HTTP/1.1\r\nA: b\r\n\r\n",
        );
        tape.take_head("POST", "/1").expect("first");
        tape.finish_body();
        let h2 = tape.take_head("GET", "/2").expect("second");
        assert_eq!(h2.headers, vec![hdr("A", b"b")]);
        tape.finish_body();
        assert!(buffered(&tape).is_empty());
    }

    #[test]
    fn method_mismatch_is_none_and_lost() {
        let tape = tape_with(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(tape.take_head("POST", "/"), None);
        assert!(tape.is_lost());
        assert!(buffered(&tape).is_empty());
        // Once lost, even a matching request is refused.
        assert_eq!(tape.take_head("GET", "/"), None);
    }

    #[test]
    fn target_mismatch_is_none_and_lost() {
        let tape = tape_with(b"GET /a HTTP/1.1\r\n\r\n");
        assert_eq!(tape.take_head("GET", "/b"), None);
        assert!(tape.is_lost());
    }

    #[test]
    fn fragment_in_target_is_kept_but_ignored_for_matching() {
        let tape = tape_with(b"GET /a?b=1#frag HTTP/1.1\r\n\r\n");
        let head = tape.take_head("GET", "/a?b=1").expect("head");
        assert_eq!(head.target, "/a?b=1#frag");
        assert!(!tape.is_lost());
    }

    #[test]
    fn incomplete_head_is_lost() {
        let tape = tape_with(b"GET /a HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(tape.take_head("GET", "/a"), None);
        assert!(tape.is_lost());
    }

    #[test]
    fn cap_exceeded_is_lost_and_stops_recording() {
        let tape = Tape::new(16);
        tape.push(&[b'a'; 16]);
        assert!(!tape.is_lost(), "exactly at the cap is still fine");
        tape.push(b"b");
        assert!(tape.is_lost());
        assert!(buffered(&tape).is_empty());
        tape.push(b"GET / HTTP/1.1\r\n\r\n");
        assert!(buffered(&tape).is_empty());
        assert_eq!(tape.take_head("GET", "/"), None);
    }

    #[test]
    fn cap_counts_only_unconsumed_bytes() {
        let req = b"GET / HTTP/1.1\r\n\r\n";
        let tape = Tape::new(req.len());
        for _ in 0..3 {
            tape.push(req);
            tape.take_head("GET", "/").expect("head");
            tape.finish_body();
        }
        assert!(!tape.is_lost());
    }

    #[test]
    fn abandon_is_lost_and_later_calls_are_none() {
        let tape = tape_with(b"POST /big HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
        tape.take_head("POST", "/big").expect("head");
        tape.abandon();
        assert!(tape.is_lost());
        tape.push(b"GET / HTTP/1.1\r\n\r\n");
        tape.finish_body();
        assert_eq!(tape.take_head("GET", "/"), None);
        assert!(tape.is_lost());
    }

    #[test]
    fn truncated_chunked_framing_is_lost() {
        let cases: [&[u8]; 5] = [
            b"5\r\nhello\r\n",                // no last chunk
            b"5\r\nhel",                      // data cut short
            b"5\r\nhello\r\n0\r\n",           // no final empty line
            b"5\r\nhello\r\n0\r\nX-T: 1\r\n", // trailer section not closed
            b"5\r\nhello\r\n0\r",             // size line cut short
        ];
        for body in cases {
            let mut wire = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            wire.extend_from_slice(body);
            let tape = tape_with(&wire);
            tape.take_head("POST", "/c").expect("head");
            tape.finish_body();
            assert!(tape.is_lost(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn malformed_chunked_framing_is_lost() {
        let cases: [&[u8]; 4] = [
            b"zz\r\n\r\n0\r\n\r\n",    // not hex
            b"3\r\nabcXY0\r\n\r\n",    // data not followed by CRLF
            b"0\r\nX-T: 1\rX\r\n\r\n", // CR without LF in trailer
            b"12345678901234567\r\n",  // more hex digits than a u64
        ];
        for body in cases {
            let mut wire = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            wire.extend_from_slice(body);
            let tape = tape_with(&wire);
            tape.take_head("POST", "/c").expect("head");
            tape.finish_body();
            assert!(tape.is_lost(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn short_content_length_body_is_lost() {
        let tape = tape_with(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
        tape.take_head("POST", "/").expect("head");
        tape.finish_body();
        assert!(tape.is_lost());
    }

    #[test]
    fn framing_follows_hyper_rules() {
        assert_eq!(
            framing(&[
                hdr("Transfer-Encoding", b"gzip"),
                hdr("transfer-encoding", b"CHUNKED")
            ]),
            Some(Framing::Chunked)
        );
        assert_eq!(
            framing(&[hdr("Transfer-Encoding", b"gzip, chunked")]),
            Some(Framing::Chunked)
        );
        assert_eq!(framing(&[hdr("Transfer-Encoding", b"chunked, gzip")]), None);
        assert_eq!(
            framing(&[
                hdr("Transfer-Encoding", b"chunked"),
                hdr("Transfer-Encoding", b"gzip")
            ]),
            None
        );
        assert_eq!(
            framing(&[
                hdr("Content-Length", b"7"),
                hdr("Transfer-Encoding", b"chunked")
            ]),
            Some(Framing::Chunked)
        );
        assert_eq!(
            framing(&[
                hdr("Transfer-Encoding", b"chunked"),
                hdr("Content-Length", b"x")
            ]),
            Some(Framing::Chunked)
        );
        assert_eq!(
            framing(&[hdr("Content-Length", b"42")]),
            Some(Framing::Length(42))
        );
        assert_eq!(
            framing(&[hdr("Content-Length", b"42"), hdr("content-length", b"42")]),
            Some(Framing::Length(42))
        );
        assert_eq!(
            framing(&[hdr("Content-Length", b"42"), hdr("content-length", b"43")]),
            None
        );
        assert_eq!(framing(&[hdr("Content-Length", b"+42")]), None);
        assert_eq!(framing(&[hdr("Content-Length", b"")]), None);
        assert_eq!(
            framing(&[hdr("Content-Length", b"99999999999999999999999")]),
            None
        );
        assert_eq!(framing(&[hdr("X", b"y")]), Some(Framing::Empty));
    }

    #[test]
    fn too_many_headers_is_lost() {
        let mut wire = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            wire.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let tape = tape_with(&wire);
        assert_eq!(tape.take_head("GET", "/"), None);
        assert!(tape.is_lost());
    }

    #[test]
    fn finish_body_without_head_is_a_no_op() {
        let tape = tape_with(b"GET / HTTP/1.1\r\n\r\n");
        tape.finish_body();
        assert!(!tape.is_lost());
        assert!(tape.take_head("GET", "/").is_some());
        tape.finish_body();
        tape.finish_body();
        assert!(!tape.is_lost());
    }

    #[test]
    fn poisoned_mutex_does_not_panic() {
        let tape = tape_with(b"GET / HTTP/1.1\r\n\r\n");
        let clone = tape.clone();
        let joined = std::thread::spawn(move || {
            let _guard = clone.lock();
            panic!("poison the tape");
        })
        .join();
        assert!(joined.is_err());
        assert!(tape.inner.is_poisoned());
        assert!(tape.take_head("GET", "/").is_some());
        tape.finish_body();
        assert!(!tape.is_lost());
    }

    /// Every prefix and a stream of pseudo-random inputs must neither panic nor hang.
    #[test]
    fn total_on_arbitrary_input() {
        let full: &[u8] = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;e\r\nhello\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        for n in 0..=full.len() {
            let tape = tape_with(&full[..n]);
            let _ = tape.take_head("POST", "/c");
            tape.finish_body();
            let _ = tape.take_head("GET", "/");
            tape.finish_body();
        }
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"0123456789abcdefXZ;: \t\r\n\r\n\r\n";
        for _ in 0..2000 {
            let mut body = Vec::new();
            for _ in 0..64 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let idx = usize::try_from(seed % alphabet.len() as u64).unwrap_or(0);
                body.push(alphabet[idx]);
            }
            let _ = chunked_len(&body);
            let mut wire = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            wire.extend_from_slice(&body);
            let tape = tape_with(&wire);
            let _ = tape.take_head("POST", "/c");
            tape.finish_body();
            let _ = tape.take_head("GET", "/");
        }
    }

    #[tokio::test]
    async fn recording_io_tapes_reads_and_passes_writes_through() {
        let (mut client, server) = tokio::io::duplex(64);
        let tape = Tape::new(CAP);
        let mut io = RecordingIo::new(server, tape.clone());

        let request: &[u8] = b"POST /hook HTTP/1.1\r\nHost: h\r\nX-Twilio-Signature: s\r\n\
            x-twilio-signature: t\r\nContent-Length: 4\r\n\r\nbody\
            GET /two HTTP/1.1\r\nHOST: h\r\n\r\n";
        let writer = tokio::spawn(async move {
            client.write_all(request).await.expect("write");
            let mut reply = [0u8; 2];
            client.read_exact(&mut reply).await.expect("read reply");
            assert_eq!(&reply, b"ok");
            client.shutdown().await.expect("shutdown");
        });

        // Read in small pieces (the duplex buffer is 64 bytes anyway) until the whole request arrived.
        let mut seen = Vec::new();
        let mut chunk = [0u8; 7];
        while seen.len() < request.len() {
            let n = io.read(&mut chunk).await.expect("read");
            assert!(n > 0, "unexpected EOF");
            seen.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(seen, request);

        let h1 = tape.take_head("POST", "/hook").expect("first head");
        assert_eq!(
            h1.headers,
            vec![
                hdr("Host", b"h"),
                hdr("X-Twilio-Signature", b"s"),
                hdr("x-twilio-signature", b"t"),
                hdr("Content-Length", b"4"),
            ]
        );
        tape.finish_body();
        let h2 = tape.take_head("GET", "/two").expect("second head");
        assert_eq!(h2.headers, vec![hdr("HOST", b"h")]);
        tape.finish_body();

        io.write_all(b"ok").await.expect("write reply");
        io.flush().await.expect("flush");
        writer.await.expect("writer task");
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.expect("read to EOF");
        assert!(rest.is_empty());
        assert!(!tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }

    #[tokio::test]
    async fn recording_io_stops_copying_once_lost() {
        let tape = Tape::new(8);
        let data: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        let mut io = RecordingIo::new(data, tape.clone());
        let mut out = Vec::new();
        io.read_to_end(&mut out).await.expect("read");
        // Reads still deliver every byte even though the tape gave up.
        assert_eq!(out, data);
        assert!(tape.is_lost());
        assert!(buffered(&tape).is_empty());
    }
}
