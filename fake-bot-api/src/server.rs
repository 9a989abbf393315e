//! The HTTP side: the listening socket and its connections, routing, body
//! parsing, spec checks, faults, recording, long polling.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::params::{ApiError, ApiResult, Params};
use crate::spec::spec;
use crate::webhook;
use crate::world::Refusal;
use crate::{BOT_TOKEN, Fault, Inner, RecordedRequest};

/// What Telegram's nginx front answers when the Bot API server behind it
/// does not (HTTP 502, an HTML page, not JSON).
pub(crate) const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n";

// ------------------------------------------------------------------ network

enum NetCmd {
    /// Stop listening (the new listener comes with `Online`) and close
    /// every open connection, then acknowledge.
    Offline(oneshot::Sender<()>),
    /// Listen again on this listener (bound to the same address).
    Online(TcpListener, oneshot::Sender<()>),
}

/// The fake's network presence: a task accepting connections, each served
/// in its own task so that it can be closed without a response.
pub(crate) struct Net {
    pub addr: SocketAddr,
    cmds: mpsc::UnboundedSender<NetCmd>,
    online: parking_lot::Mutex<bool>,
    /// Bound but never listening: keeps the port reserved while offline
    /// (no other socket gets it, connections to it are refused).
    _reserve: TcpSocket,
    task: JoinHandle<()>,
    inner: Arc<Inner>,
}

impl Drop for Net {
    fn drop(&mut self) {
        // Aborting the task drops its listener and its JoinSet, which
        // aborts (and so closes) every connection, hanging ones included.
        self.task.abort();
        // Requests still stalling are never processed.
        self.inner.abort_detached();
    }
}

/// A socket on `addr` with SO_REUSEADDR (rebinding while old connections
/// are in TIME_WAIT) and, on Unix, SO_REUSEPORT (sharing the port with the
/// reserve socket).
fn socket_on(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

fn listen_on(addr: SocketAddr) -> TcpListener {
    socket_on(addr)
        .and_then(|s| s.listen(1024))
        .unwrap_or_else(|e| panic!("fake-bot-api: can't listen on {addr}: {e}"))
}

impl Net {
    /// Binds 127.0.0.1 on a free port and serves `inner` there.
    pub async fn start(inner: Arc<Inner>) -> Net {
        let reserve = socket_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("fake-bot-api: bind 127.0.0.1:0");
        let addr = reserve.local_addr().expect("fake-bot-api: local_addr");
        let listener = listen_on(addr);
        let (cmds, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(inner.clone(), listener, rx));
        Net {
            addr,
            cmds,
            online: parking_lot::Mutex::new(true),
            _reserve: reserve,
            task,
            inner,
        }
    }

    pub fn is_online(&self) -> bool {
        *self.online.lock()
    }

    async fn command(&self, make: impl FnOnce(oneshot::Sender<()>) -> NetCmd) {
        let (ack, done) = oneshot::channel();
        self.cmds
            .send(make(ack))
            .unwrap_or_else(|_| panic!("fake-bot-api: the server task is gone"));
        done.await
            .unwrap_or_else(|_| panic!("fake-bot-api: the server task is gone"));
    }

    pub async fn go_offline(&self) {
        if !self.is_online() {
            return;
        }
        self.command(NetCmd::Offline).await;
        *self.online.lock() = false;
    }

    pub async fn go_online(&self) {
        if self.is_online() {
            return;
        }
        let listener = listen_on(self.addr);
        self.command(|ack| NetCmd::Online(listener, ack)).await;
        *self.online.lock() = true;
    }
}

async fn accept(listener: &Option<TcpListener>) -> io::Result<TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

async fn serve(
    inner: Arc<Inner>,
    listener: TcpListener,
    mut cmds: mpsc::UnboundedReceiver<NetCmd>,
) {
    let mut listener = Some(listener);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(NetCmd::Offline(ack)) => {
                    listener = None;
                    // Aborted connection tasks drop their sockets: the
                    // peers see the connections closed.
                    conns.shutdown().await;
                    let _ = ack.send(());
                }
                Some(NetCmd::Online(l, ack)) => {
                    listener = Some(l);
                    let _ = ack.send(());
                }
            },
            accepted = accept(&listener) => match accepted {
                Ok(stream) => {
                    conns.spawn(connection(inner.clone(), stream));
                }
                // Out of file descriptors and the like: try again soon.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// What the handler decided for one request.
pub(crate) enum Handled {
    /// Send this response.
    Reply(Response),
    /// Close the connection without a response.
    Drop,
}

/// Serves one HTTP/1.1 connection until the client closes it or a request
/// asks for the connection to be dropped.
async fn connection(inner: Arc<Inner>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let drop_now = Arc::new(Notify::new());
    let trigger = drop_now.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let inner = inner.clone();
        let trigger = trigger.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match axum::body::to_bytes(Body::new(body), usize::MAX).await {
                Ok(b) => b,
                Err(_) => {
                    // The client went away mid-body.
                    trigger.notify_one();
                    return std::future::pending().await;
                }
            };
            match handle(inner, parts.uri, parts.headers, body).await {
                Handled::Reply(r) => Ok::<_, Infallible>(r),
                Handled::Drop => {
                    // The connection task stops polling this connection
                    // (dropping it closes the socket) before any byte of
                    // a response is written.
                    trigger.notify_one();
                    std::future::pending().await
                }
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = drop_now.notified() => {}
    }
}

// --------------------------------------------------------------------- HTTP

fn reply(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn parse_form(s: &str, into: &mut Map<String, Value>) {
    for (k, v) in form_urlencoded::parse(s.as_bytes()) {
        into.insert(k.into_owned(), Value::String(v.into_owned()));
    }
}

/// Query string + body → one parameter object.
fn parse_params(
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    if let Some(q) = uri.query() {
        parse_form(q, &mut params);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        return Err(ApiError::bad(
            "multipart requests are not supported by the fake",
        ));
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        let s = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad("request body is not valid UTF-8"))?;
        parse_form(s, &mut params);
        return Ok(params);
    }
    // JSON (teloxide) or unspecified.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => {
            params.extend(m);
            Ok(params)
        }
        Ok(_) => Err(ApiError::bad("request parameters must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!("can't parse JSON request body: {e}"))),
    }
}

fn fault_error(f: &Fault) -> ApiError {
    match f {
        Fault::RetryAfter(n) => ApiError::new(429, format!("Too Many Requests: retry after {n}"))
            .with_parameters(json!({"retry_after": n})),
        Fault::BadRequest(m) => ApiError::bad(m.strip_prefix("Bad Request: ").unwrap_or(m)),
        Fault::Forbidden(m) => ApiError::forbidden(m.strip_prefix("Forbidden: ").unwrap_or(m)),
        Fault::ServerError => ApiError::new(500, "Internal Server Error"),
        Fault::Conflict => ApiError::new(
            409,
            "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
        ),
        // Not replies of the Bot API: the caller handles them.
        Fault::BadGateway
        | Fault::DropConnection
        | Fault::DropAfterProcessing
        | Fault::Stall(_)
        | Fault::Hang => {
            unreachable!("fake-bot-api: {f:?} has no JSON reply")
        }
    }
}

/// Message for a missing required parameter, as Telegram words it.
fn missing_message(method: &str, param: &str) -> String {
    match (method, param) {
        ("sendMessage" | "editMessageText", "text") => "message text is empty".into(),
        ("answerCallbackQuery", "callback_query_id") => {
            "query is too old and response timeout expired or query ID is invalid".into()
        }
        ("deleteMessages", "message_ids") => "message identifiers are not specified".into(),
        _ => format!("{param} is empty"),
    }
}

pub(crate) async fn handle(
    inner: Arc<Inner>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Handled {
    let raw_path = uri.path().to_owned();
    let path = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let Some(rest) = path.strip_prefix("/bot") else {
        return Handled::Reply(reply(
            404,
            &json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ));
    };
    let (token, method_name) = rest.split_once('/').unwrap_or((rest, ""));
    if token != BOT_TOKEN {
        return Handled::Reply(reply(
            401,
            &json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
        ));
    }
    let method_name = method_name.trim_end_matches('/');
    let params = parse_params(&uri, &headers, &body);

    let Some(mspec) = spec().method(method_name) else {
        let response = json!({"ok": false, "error_code": 404, "description": "Not Found"});
        inner.record(
            RecordedRequest {
                method: method_name.to_owned(),
                params: Value::Object(params.unwrap_or_default()),
                ok: false,
                response: response.clone(),
                fault: None,
            },
            Some(format!("unknown method \"{method_name}\"")),
        );
        return Handled::Reply(reply(404, &response));
    };
    let method = mspec.name.clone();

    let params = match params {
        Ok(p) => p,
        Err(e) => {
            let response = e.to_json();
            inner.record(
                RecordedRequest {
                    method: method.clone(),
                    params: Value::Object(Map::new()),
                    ok: false,
                    response: response.clone(),
                    fault: None,
                },
                Some(format!("{method}: unparsable request: {}", e.description)),
            );
            return Handled::Reply(reply(e.code, &response));
        }
    };

    // Spec check.
    let mut violations = Vec::new();
    let mut missing = None;
    for name in params.keys() {
        if !mspec.required.contains_key(name) && !mspec.optional.contains_key(name) {
            violations.push(format!("{method}: unknown parameter \"{name}\""));
        }
    }
    for name in mspec.required.keys() {
        if params.get(name).is_none_or(|v| v.is_null()) {
            violations.push(format!("{method}: missing required parameter \"{name}\""));
            missing.get_or_insert_with(|| name.clone());
        }
    }

    let fault = inner.take_fault(&method, &Params(&params));
    let call = Call {
        method,
        params,
        violation: (!violations.is_empty()).then(|| violations.join("; ")),
        missing,
    };
    match fault {
        Some(Fault::Stall(wait)) => {
            // The request is processed after the stall even if the client
            // gave up meanwhile (its connection closed, which drops this
            // future): the processing runs in a task of its own, aborted
            // only when the fake is dropped.
            let (tx, rx) = oneshot::channel();
            let task_inner = inner.clone();
            inner.spawn_detached(async move {
                tokio::time::sleep(wait).await;
                let handled = respond(task_inner, call, Some(Fault::Stall(wait))).await;
                let _ = tx.send(handled);
            });
            rx.await.unwrap_or(Handled::Drop)
        }
        fault => respond(inner, call, fault).await,
    }
}

/// A request that passed the routing and the spec check.
struct Call {
    method: String,
    params: Map<String, Value>,
    /// The spec violations it commits, if any.
    violation: Option<String>,
    /// The first required parameter it lacks.
    missing: Option<String>,
}

/// Answers (or not) a request that met `fault`, processing it unless the
/// fault forbids it, and records it.
async fn respond(inner: Arc<Inner>, call: Call, fault: Option<Fault>) -> Handled {
    let Call {
        method,
        params,
        violation,
        missing,
    } = call;
    let record = |params: Map<String, Value>, ok: bool, response: Value| {
        inner.record(
            RecordedRequest {
                method: method.clone(),
                params: Value::Object(params),
                ok,
                response,
                fault: fault.clone(),
            },
            violation.clone(),
        );
    };
    match &fault {
        Some(Fault::DropConnection) => {
            record(params, false, Value::Null);
            return Handled::Drop;
        }
        Some(Fault::Hang) => {
            // Never answered: the connection stays open until the client
            // closes it (hyper then drops this future) or the fake is
            // dropped (its connections are aborted).
            record(params, false, Value::Null);
            return std::future::pending().await;
        }
        Some(Fault::BadGateway) => {
            let page = Value::String(BAD_GATEWAY_HTML.to_owned());
            record(params, false, page);
            return Handled::Reply(
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    BAD_GATEWAY_HTML,
                )
                    .into_response(),
            );
        }
        _ => {}
    }
    let processed = matches!(
        fault,
        None | Some(Fault::DropAfterProcessing | Fault::Stall(_))
    );
    let result: ApiResult = match &fault {
        Some(f) if !processed => Err(fault_error(f)),
        _ => {
            if let Some(name) = missing {
                Err(ApiError::bad(missing_message(&method, &name)))
            } else if method == "getUpdates" {
                get_updates(&inner, &params).await
            } else {
                // The request is recorded under the same lock as its effect:
                // a test that sees a sent message also sees its request.
                let p = Params(&params);
                let mut s = inner.state.lock();
                let (result, refused) = s.dispatch_limited(&method, &p);
                let (status, response) = answer_of(result);
                let request = RecordedRequest {
                    method: method.clone(),
                    params: Value::Object(params.clone()),
                    ok: status == 200,
                    response: response.clone(),
                    fault: fault.clone(),
                };
                if let Some(v) = violation.clone() {
                    s.violations.push(v);
                }
                match refused {
                    Some(Refusal::Flood) => s.flood_violations.push(request.clone()),
                    Some(Refusal::Overall) => s.overall_refusals.push(request.clone()),
                    None => {}
                }
                s.requests.push(request);
                drop(s);
                inner.bump();
                if fault == Some(Fault::DropAfterProcessing) {
                    return Handled::Drop;
                }
                return Handled::Reply(reply(status, &response));
            }
        }
    };

    let (status, response) = answer_of(result);
    record(params, status == 200, response.clone());
    if fault == Some(Fault::DropAfterProcessing) {
        return Handled::Drop;
    }
    Handled::Reply(reply(status, &response))
}

fn answer_of(result: ApiResult) -> (u16, Value) {
    match result {
        Ok(v) => (200, json!({"ok": true, "result": v})),
        Err(e) => (e.code, e.to_json()),
    }
}

async fn get_updates(inner: &Arc<Inner>, params: &Map<String, Value>) -> ApiResult {
    let p = Params(params);
    if inner.state.lock().webhook.hook.is_some() {
        return Err(ApiError::new(409, webhook::GET_UPDATES_CONFLICT));
    }
    let offset = p.i64("offset")?;
    let limit = p.i64("limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = p.i64("timeout")?.unwrap_or(0).clamp(0, 3600) as u64;
    let gen_id = {
        let mut s = inner.state.lock();
        if s.webhook.hook.is_some() {
            // Set meanwhile.
            return Err(ApiError::new(409, webhook::GET_UPDATES_CONFLICT));
        }
        if let Some(o) = offset {
            if o > 0 {
                while s.updates.front().is_some_and(|u| u.id < o) {
                    s.updates.pop_front();
                }
            } else if o < 0 {
                let keep = o.unsigned_abs() as usize;
                while s.updates.len() > keep {
                    s.updates.pop_front();
                }
            }
        }
        s.update_allowed_updates(&p);
        s.poll_gen += 1;
        s.poll_gen
    };
    inner.bump();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut rx = inner.changed.subscribe();
    loop {
        let (res, changed) = {
            let mut s = inner.state.lock();
            if s.poll_gen != gen_id {
                let by_webhook = s.webhook.poll_ended_at == Some(s.poll_gen);
                return Err(ApiError::new(
                    409,
                    if by_webhook {
                        webhook::TERMINATED_BY_SET_WEBHOOK
                    } else {
                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                    },
                ));
            }
            let changed = s.drop_unallowed();
            let out: Vec<Value> = s
                .updates
                .iter()
                .take(limit)
                .map(|u| u.json.clone())
                .collect();
            (out, changed)
        };
        if changed {
            inner.bump();
        }
        if !res.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Value::Array(res));
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            // Timed out: one last look.
            continue;
        }
    }
}
