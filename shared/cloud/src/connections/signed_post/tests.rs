//! Against a local HTTP listener that records what it receives: our post next to the SDK's own
//! `PostToConnection`, and the retry rule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::connections::{ApiGatewayConnections, ConnectionPusher};

/// One request as it arrived.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

type Log = Arc<Mutex<Vec<Received>>>;

/// Answers the statuses in `answers` in order, then 200s; records every request.
async fn listener(answers: Vec<u16>) -> (String, Log) {
    let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", socket.local_addr().unwrap());
    let log: Log = Arc::default();
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let received = log.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = socket.accept().await.unwrap();
            tokio::spawn(serve(stream, received.clone(), answers.clone()));
        }
    });
    (endpoint, log)
}

async fn serve(mut stream: TcpStream, log: Log, answers: Arc<Mutex<std::vec::IntoIter<u16>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8(buffer[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let target = lines.next().unwrap().to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        while buffer.len() < end + 4 + length {
            let mut chunk = [0; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            buffer.extend_from_slice(&chunk[..n]);
        }
        let body = buffer[end + 4..end + 4 + length].to_vec();
        buffer.drain(..end + 4 + length);
        log.lock().unwrap().push(Received {
            target,
            headers,
            body,
        });
        let status = answers.lock().unwrap().next().unwrap_or(200);
        let (kind, message) = match status {
            200 => ("", ""),
            410 => ("GoneException", ""),
            429 => ("LimitExceededException", "Rate exceeded"),
            _ => ("ForbiddenException", "Forbidden"),
        };
        let body = if message.is_empty() {
            String::new()
        } else {
            format!(r#"{{"message":"{message}"}}"#)
        };
        let answer = format!(
            "HTTP/1.1 {status} X\r\nx-amzn-ErrorType: {kind}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
    }
}

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDORDERLY",
        "secret/key+example",
        Some("session-token".into()),
        None,
        "test",
    )
}

fn sdk(retry: RetryConfig) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .http_client(crate::sdk::http_client())
        .retry_config(retry)
        .build()
}

fn quick_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

/// Recomputes the request's signature from what was on the wire (its signed headers, path, body and
/// date): the check API Gateway makes.
fn signature_holds(request: &Received) -> bool {
    let authorization = request.header("authorization");
    let field = |name: &str| {
        authorization
            .split([' ', ','])
            .find_map(|part| part.strip_prefix(name))
            .unwrap_or_default()
            .to_owned()
    };
    let signed = field("SignedHeaders=");
    let headers: Vec<(&str, &str)> = signed
        .split(';')
        .filter(|n| !matches!(*n, "x-amz-date" | "x-amz-security-token"))
        .map(|n| (n, request.header(n)))
        .collect();
    let date =
        chrono::NaiveDateTime::parse_from_str(request.header("x-amz-date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
    let path = request.target.split(' ').nth(1).unwrap();
    let url = format!("http://{}{path}", request.header("host"));
    let identity = Identity::from(credentials());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name(SERVICE)
        .time(date.into())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.into_iter(),
        SignableBody::Bytes(&request.body),
    )
    .unwrap();
    let (_, signature) = sign(signable, &params).unwrap().into_parts();
    signature == field("Signature=")
}

#[test]
fn connection_ids_are_escaped_as_the_sdk_escapes_a_label() {
    assert_eq!(
        connection_url(
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "Ab+/=c-_.~9"
        ),
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod/@connections/Ab%2B%2F%3Dc-_.~9"
    );
}

#[tokio::test]
async fn a_post_is_the_request_the_sdk_makes_and_its_signature_holds() {
    let (endpoint, log) = listener(vec![]).await;
    let sdk = sdk(RetryConfig::standard());
    let id = "L0SM9cOFvHcCIhw=+/x";
    let payload = br#"{"type":"notification"}"#.to_vec();

    ApiGatewayConnections::new(&sdk, &format!("{endpoint}/"))
        .push(id, payload.clone())
        .await
        .unwrap();
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(&endpoint)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(config)
        .post_to_connection()
        .connection_id(id)
        .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
            payload.clone(),
        ))
        .send()
        .await
        .unwrap();

    let log = log.lock().unwrap().clone();
    let [ours, the_sdks] = &log[..] else {
        panic!("two requests, got {log:?}")
    };
    assert_eq!(
        ours.target,
        "POST /@connections/L0SM9cOFvHcCIhw%3D%2B%2Fx HTTP/1.1"
    );
    assert_eq!(ours.target, the_sdks.target);
    assert_eq!((&ours.body, &the_sdks.body), (&payload, &payload));
    for request in [ours, the_sdks] {
        assert_eq!(request.header("x-amz-security-token"), "session-token");
        let scope = request.header("authorization").split(", ").next().unwrap();
        let day = &request.header("x-amz-date")[..8];
        assert_eq!(
            scope,
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDORDERLY/{day}/eu-west-1/execute-api/aws4_request"
            )
        );
        assert!(signature_holds(request), "{request:?}");
    }
    let mut tampered = ours.clone();
    tampered.body = b"{}".to_vec();
    assert!(!signature_holds(&tampered), "the check can fail");
}

#[tokio::test]
async fn throttling_is_retried_and_gone_or_forbidden_is_not() {
    let (endpoint, log) = listener(vec![429, 429, 410, 403, 429, 429, 429]).await;
    let pusher = ApiGatewayConnections::new(&sdk(quick_retries()), &endpoint);

    // Two throttled attempts, then the gateway says the socket has gone: the third attempt's answer.
    assert!(matches!(
        pusher.push("a", b"1".to_vec()).await,
        Err(PushError::Gone(id)) if id == "a"
    ));
    // Forbidden is final at once.
    let Err(PushError::Failed(error)) = pusher.push("b", b"2".to_vec()).await else {
        panic!("forbidden is a failure")
    };
    assert!(
        error.message.contains("403") && error.message.contains("ForbiddenException"),
        "{error}"
    );
    // Throttled three times: the configured attempts are spent, and the failure says why.
    let Err(PushError::Failed(error)) = pusher.push("c", b"3".to_vec()).await else {
        panic!("throttling past the attempts is a failure")
    };
    assert!(
        error
            .message
            .contains("LimitExceededException: {\"message\":\"Rate exceeded\"}"),
        "{error}"
    );
    let targets: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    let expected: Vec<String> = ["a", "a", "a", "b", "c", "c", "c"]
        .iter()
        .map(|id| format!("POST /@connections/{id} HTTP/1.1"))
        .collect();
    assert_eq!(targets, expected);
}

#[tokio::test]
async fn without_retries_one_throttled_attempt_fails_the_post() {
    let (endpoint, log) = listener(vec![429]).await;
    let pusher = ApiGatewayConnections::new(&sdk(RetryConfig::disabled()), &endpoint);
    assert!(matches!(
        pusher.push("a", b"1".to_vec()).await,
        Err(PushError::Failed(_))
    ));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn backoff_grows_to_its_ceiling_and_is_jittered_below_it() {
    let retry = RetryConfig::standard()
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_millis(300));
    for attempt in 1..6 {
        let ceiling = Duration::from_millis([100, 200, 300, 300, 300][attempt as usize - 1]);
        let waits: Vec<Duration> = (0..200).map(|_| backoff(&retry, attempt)).collect();
        assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}");
        assert!(waits.iter().any(|w| *w > ceiling / 2), "attempt {attempt}");
        assert!(waits.iter().any(|w| *w < ceiling / 2), "attempt {attempt}");
    }
}

#[test]
fn credentials_near_their_expiry_are_fetched_again() {
    let lasting = |from_now: Duration| {
        Identity::from(Credentials::new(
            "a",
            "b",
            None,
            Some(SystemTime::now() + from_now),
            "t",
        ))
    };
    assert!(fresh(&Identity::from(credentials())));
    assert!(fresh(&lasting(Duration::from_secs(3_600))));
    assert!(!fresh(&lasting(Duration::from_secs(60))));
}

#[tokio::test]
async fn without_a_region_nothing_is_sent_and_the_failure_says_why() {
    let (endpoint, log) = listener(vec![]).await;
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(credentials()))
        .build();
    let Err(PushError::Failed(error)) = ApiGatewayConnections::new(&sdk, &endpoint)
        .push("a", b"1".to_vec())
        .await
    else {
        panic!("no region, no post")
    };
    assert!(error.message.contains("no region"), "{error}");
    assert!(log.lock().unwrap().is_empty());
}
