/**
 * voicebot-page.js: wires the voicebot page (templates/voicebot.html) to streaming.js and mic.js.
 *
 * A turn is typed (`user_text`) or spoken (`audio_start`, 16 kHz PCM frames, `audio_end`);
 * the server answers with a stream (session, llm deltas, segments, audio, done). Talking or
 * typing over an answer barges in: `cancel` with the ms actually heard, and the server keeps
 * only that much of the answer (`truncated`).
 *
 * Query parameters (handy for headless tests):
 *   ?autotalk=MS  once the microphone is open, hold push-to-talk for MS milliseconds
 *   ?say=TEXT     send TEXT as a typed turn on load
 *   ?handsfree=1  start in hands-free mode
 *   ?tts=ALIAS&voice=NAME  preselect provider / voice
 * Test instrumentation: window.__voicebot (streaming.js) plus `transcript`, `answer`, `micFrames`.
 */
import {
  PcmPlayer, StreamingSocket, StreamSession, instrumentation, resetInstrumentation,
  fillVoices as fillVoicesFor, followPhases, raiseBar, setBar, setGrowing, setMs, showStatus,
} from "./streaming.js";
import { MicCapture } from "./mic.js";

const $ = (id) => document.getElementById(id);
const root = $("voicebot-app");
const params = new URLSearchParams(location.search);
const providers = JSON.parse($("tts-providers")?.textContent || "[]");
const MAX_AUDIO_MS = (Number(root.dataset.maxAudioSeconds) || 30) * 1000;
const PTT_PREROLL_MS = 200; // sent from just before the press: the first syllable is not cut

const ui = {
  llmLabel: $("llm-label"), llmHint: $("llm-hint"), tts: $("tts"), voice: $("voice"),
  chat: $("chat"), userText: $("user-text"), send: $("send"), talk: $("talk"),
  handsFree: $("handsfree"), stop: $("stop"), reset: $("reset"), micLevel: $("mic-level"),
  status: $("status"), textProgress: $("text-progress"), audioProgress: $("audio-progress"),
  textPct: $("text-progress-value"), audioPct: $("audio-progress-value"),
  ttfa: $("ttfa"), playbackStart: $("playback-start"), ttfaServer: $("ttfa-server"),
  overhead: $("overhead"), sttMs: $("stt-ms"), llmTtft: $("llm-ttft"), underruns: $("underruns"),
};

const player = new PcmPlayer();
const socket = new StreamingSocket(root.dataset.wsPath || "/api/voicebot/streaming");
// The server starts each answer; expect() times TTFA from the moment a turn is sent.
const session = new StreamSession(socket, player, { acceptServerStreams: true, reportHeard: true });

let mic = null; // MicCapture, created on first use (shares the player's AudioContext)
let capture = null; // the spoken turn receiving mic frames: see newCapture()
let held = null; // what holds push-to-talk: "pointer" | "key" | "auto"
let pressSeq = 0; // tells a press from a later one while it waits for the microphone
let micStopped = Promise.resolve(); // the previous capture's last frame has arrived
let awaitingTranscript = null; // user bubble of the last spoken turn, until its transcript
const answers = new Map(); // session_id -> {el, textEl, text}
let conversationId = null;
let audioShare = false; // the audio bar shows a share (the answer's length is known)
let synthMs = 0; // most audio synthesized (ms) shown for the current answer

// ---- small UI helpers ----

const setStatus = (text, kind = "info") => showStatus(ui.status, text, kind);
// The status line follows the answer's phases (receiving it, speaking, finishing), except
// while the user is talking: then it keeps saying "Listening…".
const phases = followPhases(session, (text) => !capture && setStatus(text), {
  subject: "the answer",
});

function refreshButtons() {
  ui.stop.disabled = !session.active;
  root.dataset.busy = session.active ? "1" : "0";
}

/** A spoken turn is (not) being recorded. */
function setListening(on) {
  root.dataset.listening = on ? "1" : "0";
  ui.talk.classList.toggle("active", on);
  ui.talk.textContent = !on ? "Hold to talk" : held ? "Listening… release to send" : "Listening…";
}

function setHeld(src) {
  held = src;
  ui.talk.setAttribute("aria-pressed", src ? "true" : "false");
}

const fillVoices = () => fillVoicesFor(providers, ui.tts, ui.voice);

function voiceChoice() {
  const choice = { tts: ui.tts.value };
  if (ui.voice.value) choice.voice = ui.voice.value;
  return choice;
}

function resetReadouts() {
  setBar(ui.textProgress, ui.textPct, 0);
  setBar(ui.audioProgress, ui.audioPct, 0);
  audioShare = false;
  synthMs = 0;
  for (const el of [ui.ttfa, ui.playbackStart, ui.ttfaServer, ui.overhead, ui.sttMs, ui.llmTtft]) {
    setMs(el, null);
  }
  ui.underruns.textContent = "–";
}

/** A fresh window.__voicebot for a new turn (after the previous stream has fully ended). */
function newTurn() {
  const vb = resetInstrumentation();
  Object.assign(vb, { transcript: null, answer: "", micFrames: 0 });
  resetReadouts();
  return vb;
}

// ---- chat ----

/** Keep the newest text in view, inside the chat box only (the page must not move under Talk). */
function scrollChat(force = false) {
  const c = ui.chat;
  if (force || c.scrollHeight - c.scrollTop - c.clientHeight < 80) c.scrollTop = c.scrollHeight;
}

function addBubble(role, text) {
  const li = document.createElement("li");
  li.className = `turn ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : role === "assistant" ? "Assistant" : "";
  const p = document.createElement("p");
  p.className = "text";
  p.textContent = text ?? "";
  li.append(who, p);
  ui.chat.append(li);
  scrollChat(true);
  return li;
}

function addNote(text) {
  const li = document.createElement("li");
  li.className = "turn note";
  li.textContent = text;
  ui.chat.append(li);
  scrollChat();
}

function answerFor(sessionId) {
  let a = answers.get(sessionId);
  if (!a) {
    const el = addBubble("assistant", "");
    el.dataset.sessionId = sessionId;
    el.classList.add("streaming");
    a = { el, textEl: el.querySelector(".text"), text: "" };
    answers.set(sessionId, a);
  }
  return a;
}

/** Where `heard` (whole words of the answer, as the server kept them) ends in `full`. */
function heardEnd(full, heard) {
  let pos = 0;
  for (const word of heard.split(/\s+/).filter(Boolean)) {
    const at = full.indexOf(word, pos);
    if (at < 0 || /[\p{L}\p{N}]/u.test(full.slice(pos, at))) break; // words must follow on
    pos = at + word.length;
  }
  return pos;
}

/** Barge-in: the heard part stays, the rest of the answer is struck through. */
function showTruncated(a, heard) {
  const cut = heardEnd(a.text, heard);
  const said = document.createElement("span");
  said.className = "heard";
  said.textContent = a.text.slice(0, cut);
  const rest = document.createElement("del");
  rest.className = "unheard";
  rest.title = "Not heard: you interrupted";
  rest.textContent = a.text.slice(cut);
  a.textEl.replaceChildren(said, rest);
  a.el.classList.add("interrupted");
  a.el.dataset.heardChars = String(cut);
}

// ---- turns ----

async function ensureConnected() {
  try {
    await socket.connect();
    return true;
  } catch (e) {
    setStatus(`Could not connect: ${e.message}`, "error");
    return false;
  }
}

function unlockAudio() {
  return player.unlock(); // creates/resumes the AudioContext: call inside a user gesture
}

/** Interrupt the answer, if any: `cancel` goes out now; resolves once that stream has ended. */
function bargeIn() {
  if (!session.active) return Promise.resolve();
  answers.get(session.sessionId)?.el.classList.add("interrupted");
  mic?.setEchoGuard(false);
  return session.stop();
}

function expectAnswer(what) {
  session.expect();
  instrumentation().state = "connecting";
  refreshButtons();
  setStatus(what);
}

/** Turns open one after another: each waits until the answer it interrupts has ended. */
let turnQueue = Promise.resolve();
const queueTurn = (fn) => (turnQueue = turnQueue.then(fn, fn));

function sendText(text = ui.userText.value.trim()) {
  if (!text) return setStatus("Type a message first.", "warn");
  unlockAudio();
  ui.userText.value = "";
  bargeIn(); // stop talking right away
  return queueTurn(async () => {
    await bargeIn();
    if (!(await ensureConnected())) {
      ui.userText.value ||= text;
      return;
    }
    addBubble("user", text);
    newTurn();
    socket.send({ type: "user_text", text, ...voiceChoice() });
    expectAnswer("Thinking…");
  });
}

// A capture: {by: "ptt"|"vad", queue, bytes, open (audio_start sent), ended, flushed, done, bubble}

function newCapture(by) {
  if (awaitingTranscript?.dataset.pending) awaitingTranscript.remove(); // superseded
  const bubble = addBubble("user", "…");
  bubble.dataset.pending = "listening";
  capture = { by, queue: [], bytes: 0, open: false, ended: false, flushed: false, done: false, bubble };
  setListening(true);
  return capture;
}

async function ensureMic() {
  if (mic?.isOpen) return true;
  await unlockAudio();
  mic ??= Object.assign(new MicCapture({ context: player.ctx }), {
    onFrame: onMicFrame,
    onLevel: (rms) => { ui.micLevel.value = Math.max(0, Math.min(1, (20 * Math.log10(rms + 1e-9) + 60) / 60)); },
    onSpeechStart: () => startTurn(newCapture("vad")),
    onSpeechEnd: () => capture?.by === "vad" && endCapture(true),
    onEnded: () => {
      setStatus("The microphone was disconnected.", "warn");
      root.dataset.mic = "closed";
      endCapture(true); // send what was recorded
    },
  });
  try {
    setStatus("Opening the microphone…");
    await mic.open();
    mic.setHandsFree(ui.handsFree.checked);
    root.dataset.mic = "open";
    return true;
  } catch (e) {
    const why = e.name === "NotAllowedError" ? "access was denied (allow it in the site settings)"
      : e.name === "NotFoundError" ? "no microphone was found" : e.message;
    setStatus(`Microphone unavailable: ${why}. You can still type.`, "error");
    root.dataset.mic = "error";
    return false;
  }
}

/** Open the spoken turn on the server once any answer has stopped (frames queue meanwhile). */
function startTurn(cap) {
  bargeIn();
  return queueTurn(() => openTurn(cap));
}

async function openTurn(cap) {
  await bargeIn();
  if (cap.done) return;
  if (!(await ensureConnected())) return abortCapture(cap);
  if (cap.done) return;
  newTurn();
  socket.send({ type: "audio_start", sample_rate: mic.sampleRate, ...voiceChoice() });
  cap.open = true;
  for (const buf of cap.queue.splice(0)) sendFrame(cap, buf);
  if (!cap.ended) setStatus(cap.by === "vad" ? "Listening… (pause to send)" : "Listening… release to send.");
  maybeFinish(cap);
}

function onMicFrame(buf) {
  const cap = capture;
  if (!cap || cap.flushed || cap.done) return;
  cap.bytes += buf.byteLength;
  if (cap.open) sendFrame(cap, buf);
  else cap.queue.push(buf);
  if (!cap.ended && (cap.bytes / 2 / mic.sampleRate) * 1000 >= MAX_AUDIO_MS) {
    setStatus(`That is the ${MAX_AUDIO_MS / 1000} s limit for one turn: sending it.`, "warn");
    setHeld(null);
    endCapture();
  }
}

function sendFrame(cap, buf) {
  if (!socket.sendBytes(buf)) return;
  const vb = instrumentation();
  vb.micFrames = (vb.micFrames ?? 0) + 1;
}

/** The user stopped talking (release, or the VAD's hangover): the last frames, then audio_end. */
async function endCapture(fromVad = false) {
  const cap = capture;
  if (!cap || cap.ended) return;
  cap.ended = true;
  setListening(false);
  if (!fromVad) await (micStopped = mic.stop());
  cap.flushed = true;
  maybeFinish(cap);
}

function maybeFinish(cap) {
  if (!cap.open || !cap.flushed || cap.done) return;
  cap.done = true;
  if (capture === cap) capture = null;
  socket.send({ type: "audio_end" });
  cap.bubble.dataset.pending = "transcribing";
  awaitingTranscript = cap.bubble;
  expectAnswer("Transcribing…");
}

/** Drop a capture without audio_end (the socket closed, or a new conversation). */
function abortCapture(cap) {
  cap.done = true;
  if (!cap.ended && mic?.isOpen) micStopped = mic.stop();
  cap.ended = cap.flushed = true;
  if (capture === cap) capture = null;
  cap.bubble.remove();
  setListening(false);
}

/** Push-to-talk pressed (pointer, Space, or ?autotalk): barge in, record until released. */
async function talkDown(src) {
  if (held) return;
  setHeld(src);
  const press = ++pressSeq;
  unlockAudio();
  bargeIn(); // pressing Talk while the bot speaks interrupts it
  if (capture && !capture.ended) { // hands-free speech already recording: now held by the user
    capture.by = "ptt";
    mic.start();
    return setListening(true);
  }
  if (!(await ensureMic())) return setHeld(null);
  await micStopped;
  if (held !== src || press !== pressSeq) { // released before the microphone was ready
    if (ui.status.dataset.kind !== "error") setStatus("Microphone ready: hold Talk (or Space) while you speak.");
    return;
  }
  const cap = newCapture("ptt");
  mic.start({ preRollMs: PTT_PREROLL_MS });
  await startTurn(cap);
}

function talkUp(src) {
  if (held !== src) return;
  setHeld(null);
  if (capture && !capture.ended) endCapture();
}

async function stopAnswer() {
  ui.stop.disabled = true;
  await bargeIn(); // onFinished updates the status
  refreshButtons();
}

async function newConversation() {
  if (capture) abortCapture(capture);
  await bargeIn();
  if (!(await ensureConnected())) return;
  socket.send({ type: "reset" });
  ui.chat.replaceChildren();
  answers.clear();
  awaitingTranscript = null;
  newTurn();
  setStatus("New conversation.", "ok");
}

async function toggleHandsFree() {
  const on = ui.handsFree.checked;
  unlockAudio();
  if (on && !(await ensureMic())) {
    ui.handsFree.checked = false;
    return;
  }
  mic?.setHandsFree(on);
  root.dataset.handsfree = on ? "1" : "0";
  if (!capture) setStatus(on ? "Hands-free: just speak (a pause sends)." : "Hold Talk (or Space) while you speak.");
}

// ---- server events ----

socket.on("conversation", (m) => {
  if (m.llm_label) ui.llmLabel.textContent = m.llm_label;
  if (typeof m.llm_hint === "string") {
    ui.llmHint.textContent = m.llm_hint;
    ui.llmHint.hidden = !m.llm_hint;
  }
  if (conversationId && m.conversation_id !== conversationId && ui.chat.children.length) {
    addNote("New conversation (the server does not remember the turns above).");
  }
  conversationId = m.conversation_id ?? null;
  root.dataset.conversationId = conversationId ?? "";
});

socket.on("transcript", (m) => {
  const text = (m.text ?? "").trim();
  instrumentation().transcript = m.text ?? "";
  const bubble = awaitingTranscript ?? addBubble("user", "");
  awaitingTranscript = null;
  delete bubble.dataset.pending;
  bubble.querySelector(".text").textContent = text || "(nothing heard)";
  bubble.classList.toggle("empty", !text);
  scrollChat();
  if (text) return setStatus("Thinking…");
  setStatus("I didn't catch that: hold Talk (or Space) while you speak, close to the microphone.", "warn");
  session.abandon("nothing_heard"); // no answer is coming (one that does is still played)
});

socket.on("truncated", (m) => { // its stream is over: the StreamSession no longer forwards it
  const a = answers.get(m.session_id);
  if (a) showTruncated(a, m.heard_text ?? "");
});

socket.on("error", (m) => {
  if (m.session_id && m.session_id !== session.sessionId) return; // an old stream's
  setStatus(`${m.fatal ? "Error" : "Warning"}: ${m.message || m.code}`, m.fatal ? "error" : "warn");
  if (!m.session_id && awaitingTranscript?.dataset.pending) {
    awaitingTranscript.querySelector(".text").textContent = "(not understood)";
    delete awaitingTranscript.dataset.pending;
    awaitingTranscript = null;
  }
  if (!m.session_id) session.abandon("refused"); // the turn was refused: no answer is coming
});

session.on("*", refreshButtons);

session.on("session", (m) => {
  if (session.phase === "stopping") return; // the answer being cancelled announced itself
  answerFor(m.session_id);
  setGrowing(ui.textProgress, ui.textPct, "…"); // the status line: followPhases
});

session.on("llm", (m) => {
  if (!m.delta) return;
  if (session.phase === "stopping" && !answers.has(m.session_id)) return;
  const a = answerFor(m.session_id);
  a.text += m.delta;
  (a.textEl.querySelector(".unheard") ?? a.textEl).append(m.delta); // plain text, never HTML
  if (m.session_id === session.sessionId) instrumentation().answer += m.delta;
  scrollChat();
});

session.on("progress", (m) => {
  if (m.text_done) setBar(ui.textProgress, ui.textPct, 1);
  else setGrowing(ui.textProgress, ui.textPct, `${m.text_chars ?? 0} chars`);
  if (m.tts_percent != null) { // the whole answer is in: the share of it synthesized
    audioShare = true;
    raiseBar(ui.audioProgress, ui.audioPct, m.tts_percent / 100);
  } else if (!audioShare) { // its length is unknown: the seconds of audio synthesized so far
    synthMs = Math.max(synthMs, m.synth_ms ?? 0);
    setGrowing(ui.audioProgress, ui.audioPct, `${(synthMs / 1000).toFixed(1)} s`);
  }
});

session.on("metrics", (m) => {
  setMs(ui.ttfaServer, m.ttfa_ms);
  setMs(ui.overhead, m.overhead_ms);
  setMs(ui.sttMs, m.stt_ms);
  setMs(ui.llmTtft, m.llm_ttft_ms);
});

session.on("done", (m) => {
  if (m.status === "completed") { // the status line says "Finishing…" (followPhases)
    audioShare = true;
    setBar(ui.textProgress, ui.textPct, 1);
    setBar(ui.audioProgress, ui.audioPct, 1);
  }
});

session.onFirstAudio = (ms) => setMs(ui.ttfa, ms);
session.onPlaybackStart = (ms) => {
  setMs(ui.playbackStart, ms);
  mic?.setEchoGuard(true);
  phases.refresh(); // "(speaking already)" while the answer is still being written
};

session.onFinished = ({ status, playedMs, sessionId }) => {
  refreshButtons();
  mic?.setEchoGuard(false);
  ui.underruns.textContent = String(player.underruns);
  const a = answers.get(sessionId);
  a?.el.classList.remove("streaming");
  if (status === "cancelled" || status === "stopped") a?.el.classList.add("interrupted");
  if (capture && !capture.ended) return; // the user is talking: keep "Listening…"
  const secs = (playedMs / 1000).toFixed(1);
  if (status === "completed") setStatus(`Done: played ${secs} s. Your turn.`, "ok");
  else if (status === "cancelled" || status === "stopped") setStatus(`Interrupted after ${secs} s.`);
  else if (status === "nothing_heard" || status === "refused") { /* status already says why */ }
  else if (ui.status.dataset.kind !== "error") setStatus(`The answer ended (${status}).`, "error");
};

socket.onClose((ev) => {
  if (capture) abortCapture(capture);
  if (!session.active) setStatus(`Disconnected (${ev.code}); sending a message reconnects.`, "warn");
});

// ---- input wiring ----

const inField = (el) => !!el?.closest?.("input, textarea, select, [contenteditable]:not([contenteditable='false'])");
const isSpace = (e) => e.code === "Space" || e.key === " ";

ui.talk.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  ui.talk.setPointerCapture?.(e.pointerId);
  talkDown("pointer");
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
  ui.talk.addEventListener(type, () => talkUp("pointer"));
}
ui.talk.addEventListener("contextmenu", (e) => e.preventDefault());
ui.talk.addEventListener("click", (e) => e.preventDefault());

document.addEventListener("keydown", (e) => {
  if (!isSpace(e) || inField(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
  e.preventDefault(); // no page scroll, no button activation
  if (!e.repeat) talkDown("key");
});
document.addEventListener("keyup", (e) => {
  if (!isSpace(e) || inField(e.target)) return;
  e.preventDefault();
  talkUp("key");
});
window.addEventListener("blur", () => held && held !== "auto" && talkUp(held)); // lost keyup

ui.send.addEventListener("click", () => sendText());
ui.userText.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendText();
  }
});
ui.stop.addEventListener("click", stopAnswer);
ui.reset.addEventListener("click", newConversation);
ui.handsFree.addEventListener("change", toggleHandsFree);
ui.tts.addEventListener("change", fillVoices);

// ---- init ----

if (params.get("tts") && providers.some((p) => p.alias === params.get("tts"))) {
  ui.tts.value = params.get("tts");
}
if (params.get("voice")) ui.voice.dataset.wanted = params.get("voice");
fillVoices();
Object.assign(instrumentation(), { transcript: null, answer: "", micFrames: 0 });
refreshButtons();
setListening(false);
setStatus("Connecting…");
ensureConnected().then((ok) => ok && !session.active && !capture
  && setStatus("Ready: hold Talk (or Space) and speak, or type a message."));
root.dataset.ready = "1";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (params.get("handsfree") === "1") {
  ui.handsFree.checked = true;
  toggleHandsFree();
}
if (params.get("say")) sendText(params.get("say"));
if (params.has("autotalk")) {
  (async () => {
    const ms = Number(params.get("autotalk")) || 2000;
    if (!(await ensureConnected()) || !(await ensureMic())) return;
    talkDown("auto");
    await sleep(ms);
    talkUp("auto");
  })();
}
