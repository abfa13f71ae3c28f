//! Calls to outside services, off the controller task: speech-to-text for
//! what callers say, text-to-speech (or local espeak-ng) for what customer
//! agents say, and external customer agents speaking the bot protocol. Each
//! request runs in its own task with a time limit and reports back to the
//! controller through one bounded channel; a service that is down, slow or
//! answers garbage produces an error result, never a stuck call.

use dialect_bytecode::Prompt;
use dialect_media::{Frames, Law, PromptCache};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Results waiting for the controller, at most.
pub const SERVICE_RESULTS: usize = 1_024;

/// What a service answered, for one call.
#[derive(Debug)]
pub enum ServiceResult {
    /// Speech-to-text: the caller's words (empty when nothing was
    /// recognised), or why the service failed.
    Heard {
        /// The call's key.
        call: u64,
        /// The text.
        result: Result<String, String>,
    },
    /// Text-to-speech (or espeak-ng): the frames to play.
    Spoken {
        /// The call's key.
        call: u64,
        /// The frames in the call's law.
        result: Result<Arc<Frames>, String>,
    },
    /// A flow's HTTP request (`api_login`, `api_request`) answered: status
    /// and body, or why there was none.
    Http {
        /// The call's key.
        call: u64,
        /// What the request was for.
        purpose: HttpPurpose,
        /// `(status, body)`.
        result: Result<(u16, String), HttpFailure>,
    },
    /// An external customer agent's answer: HTTP status and body, or why
    /// there was none.
    Bot {
        /// The call's key.
        call: u64,
        /// The request's number on the call and the conversation's turn
        /// it was for.
        tag: (u64, u32),
        /// `(status, body)`.
        result: Result<(u16, String), String>,
    },
}

/// What a flow's HTTP request is for.
#[derive(Clone, Debug)]
pub enum HttpPurpose {
    /// An `api_request` (its number on the call).
    Request(u32),
    /// An `api_login` (its number, and what its token is cached under).
    Login(u32, (String, String)),
    /// An `authorise` block's external source.
    Authorise,
}

/// Why a flow's HTTP request has no answer.
#[derive(Debug)]
pub enum HttpFailure {
    /// Past its time limit.
    Late,
    /// Refused, unreachable, broken off, too long: why.
    Failed(String),
}

/// The service clients.
#[derive(Clone)]
pub struct Services {
    http: reqwest::Client,
    /// The flows' own requests: no redirects (a redirect could lead past
    /// the allowed URLs), each with its block's time limit.
    flows: reqwest::Client,
    stt: Option<String>,
    tts: Option<String>,
    timeout: Duration,
    results: mpsc::Sender<ServiceResult>,
    prompts: Arc<PromptCache>,
    scratch: PathBuf,
}

impl Services {
    /// Clients for the configured services.
    pub fn new(
        config: &crate::config::Services,
        results: mpsc::Sender<ServiceResult>,
        prompts: Arc<PromptCache>,
        scratch: PathBuf,
    ) -> Services {
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(5_000));
        Services {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            flows: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            stt: config.stt.clone(),
            tts: config.tts.clone(),
            timeout,
            results,
            prompts,
            scratch,
        }
    }

    /// Whether callers can be heard (a speech-to-text service is set).
    pub fn can_hear(&self) -> bool {
        self.stt.is_some()
    }

    /// Sends one utterance to speech-to-text.
    pub fn hear(
        &self,
        call: u64,
        samples: Vec<i16>,
        conversation: String,
        language: Option<String>,
    ) {
        let Some(url) = self.stt.clone() else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let mut request = this
                .http
                .post(&url)
                .header("Content-Type", "audio/wav")
                .header("X-Dialect-Conversation", conversation)
                .body(dialect_media::audio::wav_bytes(&samples));
            if let Some(language) = language {
                request = request.header("X-Dialect-Language", language);
            }
            let result = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    match response.json::<dialect_bot::SttResult>().await {
                        Ok(heard) => Ok(heard.text),
                        Err(e) => Err(format!("speech-to-text answered garbage: {e}")),
                    }
                }
                Ok(response) => Err(format!("speech-to-text answered {}", response.status())),
                Err(e) => Err(format!("speech-to-text failed: {e}")),
            };
            let _ = this
                .results
                .send(ServiceResult::Heard { call, result })
                .await;
        });
    }

    /// Speaks a text for a call: the text-to-speech service when one is
    /// set, else espeak-ng through the prompt cache (in a blocking task).
    pub fn speak(&self, call: u64, text: String, language: Option<String>, law: Law) {
        let this = self.clone();
        tokio::spawn(async move {
            let result = match this.tts.clone() {
                Some(url) => this.tts(&url, &text, language.as_deref(), law).await,
                None => {
                    let prompts = this.prompts.clone();
                    let prompt = Prompt::Say { text, language };
                    tokio::task::spawn_blocking(move || {
                        prompts
                            .load(&prompt, std::path::Path::new("."), law)
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
                }
            };
            let _ = this
                .results
                .send(ServiceResult::Spoken { call, result })
                .await;
        });
    }

    async fn tts(
        &self,
        url: &str,
        text: &str,
        language: Option<&str>,
        law: Law,
    ) -> Result<Arc<Frames>, String> {
        let body = dialect_bot::TtsRequest {
            text: text.to_string(),
            language: language.map(str::to_string),
        };
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("text-to-speech failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("text-to-speech answered {}", response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("text-to-speech failed: {e}"))?;
        let _ = std::fs::create_dir_all(&self.scratch);
        let path = self
            .scratch
            .join(format!("tts-{}.wav", std::process::id() ^ rand_u32()));
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        let samples = dialect_media::audio::decode_file(&path).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        Ok(Arc::new(Frames::from_samples(law, &samples?)))
    }

    /// A flow's HTTP request (already allowed by the configuration): the
    /// answer's status and at most `max_body` bytes of its body, within
    /// `timeout`.
    #[allow(clippy::too_many_arguments)]
    pub fn flow_http(
        &self,
        (call, purpose): (u64, HttpPurpose),
        method: &str,
        url: String,
        body: Option<(String, &'static str)>,
        bearer: Option<String>,
        timeout: Duration,
        max_body: usize,
    ) {
        let method = match method {
            "post" => reqwest::Method::POST,
            "put" => reqwest::Method::PUT,
            "patch" => reqwest::Method::PATCH,
            "delete" => reqwest::Method::DELETE,
            _ => reqwest::Method::GET,
        };
        let this = self.clone();
        tokio::spawn(async move {
            let mut builder = this.flows.request(method, &url).timeout(timeout);
            if let Some((body, kind)) = body {
                builder = builder.header("Content-Type", kind).body(body);
            }
            if let Some(token) = bearer {
                builder = builder.bearer_auth(token);
            }
            let result = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    read_bounded(response, max_body)
                        .await
                        .map(|body| (status, body))
                }
                Err(e) if e.is_timeout() => Err(HttpFailure::Late),
                Err(e) => Err(HttpFailure::Failed(format!("cannot be reached: {e}"))),
            };
            let _ = this
                .results
                .send(ServiceResult::Http {
                    call,
                    purpose,
                    result,
                })
                .await;
        });
    }

    /// One turn of an external customer agent: POSTs the request, reports
    /// the status and body (the bot crate judges them).
    pub fn ask_bot(
        &self,
        call: u64,
        tag: (u64, u32),
        endpoint: String,
        body: String,
        timeout: Option<Duration>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let request = this
                .http
                .post(&endpoint)
                .header("Content-Type", "application/json")
                .timeout(timeout.unwrap_or(this.timeout))
                .body(body);
            let result = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    match response.text().await {
                        Ok(text) => Ok((status, text)),
                        Err(e) => Err(format!("the customer agent's answer broke off: {e}")),
                    }
                }
                Err(e) if e.is_timeout() => Err("the customer agent did not answer in time".into()),
                Err(e) => Err(format!("the customer agent cannot be reached: {e}")),
            };
            let _ = this
                .results
                .send(ServiceResult::Bot { call, tag, result })
                .await;
        });
    }
}

/// An answer's body, refused past `max` bytes (read chunk by chunk, so a
/// server that sends gigabytes costs at most `max`).
async fn read_bounded(mut response: reqwest::Response, max: usize) -> Result<String, HttpFailure> {
    let mut body: Vec<u8> = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(HttpFailure::Failed(format!(
                        "the answer is longer than {max} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            Err(e) if e.is_timeout() => return Err(HttpFailure::Late),
            Err(e) => return Err(HttpFailure::Failed(format!("the answer broke off: {e}"))),
        }
    }
}

/// A little randomness for scratch file names (no two concurrent TTS
/// answers share a file).
fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
