/**
 * tts-page.js: wires the TTS demo page (templates/tts.html) to streaming.js.
 *
 * Query parameters (handy for headless tests):
 *   ?autostart=1  speak immediately on load (needs autoplay allowed)
 *   ?stream=1     tick "stream the text in word by word"
 *   ?tts=ALIAS&voice=NAME  preselect provider / voice
 */
import {
  fillVoices as fillVoicesFor,
  followPhases,
  PcmPlayer,
  raiseBar,
  setBar,
  setMs,
  showStatus,
  StreamingSocket,
  StreamSession,
} from "./streaming.js";

const $ = (id) => document.getElementById(id);
const root = $("tts-app");
const params = new URLSearchParams(location.search);
const providers = JSON.parse($("tts-providers")?.textContent || "[]");
const WORD_INTERVAL_MS = 40;

const ui = {
  text: $("text"), tts: $("tts"), voice: $("voice"), streamInput: $("stream-input"),
  speak: $("speak"), stop: $("stop"), status: $("status"), segments: $("segments"),
  textProgress: $("text-progress"), audioProgress: $("audio-progress"),
  textPct: $("text-progress-value"), audioPct: $("audio-progress-value"),
  ttfa: $("ttfa"), playbackStart: $("playback-start"), ttfaServer: $("ttfa-server"),
  overhead: $("overhead"), underruns: $("underruns"), charCount: $("char-count"),
};

const player = new PcmPlayer();
const socket = new StreamingSocket(root.dataset.wsPath || "/api/tts/ws");
const session = new StreamSession(socket, player);

let textTotal = 0; // length of the text this page is sending for the current stream
let streamingIn = false; // the current stream's text is sent word by word
let feedTimer = null; // word-by-word sender
let segments = []; // [{el, atMs}] atMs = stream audio offset where the segment starts
let highlightTimer = null;

// ---- small UI helpers ----

const setStatus = (text, kind = "info") => showStatus(ui.status, text, kind);
// The status line follows the stream's phases (receiving text, speaking, finishing), unless
// the browser blocks audio: then its warning stays.
const phases = followPhases(session, (text) => player.running && setStatus(text), {
  wholeText: () => !streamingIn,
});

function setBusy(busy) {
  ui.stop.disabled = !busy;
  ui.speak.title = busy ? "Stop the current stream and speak again" : "";
  root.dataset.busy = busy ? "1" : "0";
}

const fillVoices = () => fillVoicesFor(providers, ui.tts, ui.voice);

function updateCharCount() {
  if (ui.charCount) ui.charCount.textContent = `${ui.text.value.length} / ${ui.text.maxLength}`;
}

function resetReadouts() {
  setBar(ui.textProgress, ui.textPct, 0);
  setBar(ui.audioProgress, ui.audioPct, 0);
  for (const el of [ui.ttfa, ui.playbackStart, ui.ttfaServer, ui.overhead]) setMs(el, null);
  if (ui.underruns) ui.underruns.textContent = "–";
  ui.segments.replaceChildren();
  segments = [];
}

// ---- segment highlighting: the last segment whose audio offset has been played ----

function highlight() {
  const played = player.playedMs();
  let current = null;
  for (const s of segments) if (s.atMs <= played && player.started) current = s;
  for (const s of segments) s.el.classList.toggle("playing", s === current);
  for (const s of segments) s.el.classList.toggle("played", s.atMs < played && s !== current);
}

function stopHighlight() {
  clearInterval(highlightTimer);
  highlightTimer = null;
  for (const s of segments) s.el.classList.remove("playing");
}

// ---- word-by-word input ----

function stopFeeding() {
  clearInterval(feedTimer);
  feedTimer = null;
}

function feedWords(words) {
  let i = 0;
  feedTimer = setInterval(() => {
    if (!session.active || session.phase === "stopping") return stopFeeding();
    if (i < words.length) {
      session.sendText(words[i++] + " ");
    } else {
      session.endText();
      stopFeeding();
    }
  }, WORD_INTERVAL_MS);
}

// ---- actions ----

async function speak() {
  const text = ui.text.value.trim();
  if (!text) return setStatus("Type some text first.", "warn");
  stopFeeding();
  stopHighlight();
  ui.speak.disabled = true;
  try {
    const audible = await player.unlock(); // must run inside the click handler
    if (!audible) setStatus("The browser blocked audio; click Speak again to enable it.", "warn");
    const streamIn = (streamingIn = ui.streamInput.checked);
    const words = text.split(/\s+/).filter(Boolean);
    textTotal = streamIn ? words.reduce((n, w) => n + w.length + 1, 0) : text.length;
    const msg = { tts: ui.tts.value };
    if (ui.voice.value) msg.voice = ui.voice.value;
    if (!streamIn) msg.text = text;
    if (audible) setStatus("Connecting…");
    await session.start(msg); // stops a running stream first
    if (!session.active) return; // stopped while connecting
    resetReadouts(); // runs before any event of the new stream is handled
    setBusy(true);
    if (audible) setStatus(streamIn ? "Sending text word by word…" : "Waiting for audio…");
    highlightTimer = setInterval(highlight, 100);
    if (streamIn) feedWords(words);
  } catch (e) {
    setStatus(`Could not connect: ${e.message}`, "error");
    setBusy(false);
  } finally {
    ui.speak.disabled = false;
  }
}

async function stop() {
  stopFeeding();
  ui.stop.disabled = true;
  await session.stop(); // onFinished updates the status
}

// ---- stream events ----

session.on("segment", (m) => {
  const li = document.createElement("li");
  li.dataset.index = m.index;
  li.textContent = m.text;
  ui.segments.append(li);
  li.scrollIntoView?.({ block: "nearest" });
  // A segment is announced before its audio, so its audio starts where the queue ends now.
  segments.push({ el: li, atMs: player.scheduledMs() });
});

session.on("progress", (m) => {
  raiseBar(ui.textProgress, ui.textPct, m.text_done ? 1 : (m.text_chars ?? 0) / (textTotal || 1));
  // The share of the text synthesized: of the total this page sends while the server does
  // not know it yet (tts_percent null), then the server's share. Never moves back.
  const share = m.tts_percent != null ? m.tts_percent / 100 : (m.synth_chars ?? 0) / (textTotal || 1);
  raiseBar(ui.audioProgress, ui.audioPct, Math.min(share, 1));
});

session.on("metrics", (m) => {
  setMs(ui.ttfaServer, m.ttfa_ms);
  setMs(ui.overhead, m.overhead_ms);
});

session.on("error", (m) => {
  setStatus(`${m.fatal ? "Error" : "Warning"}: ${m.message || m.code}`, m.fatal ? "error" : "warn");
});

session.on("done", (m) => {
  if (m.status === "completed") { // the status line says "Finishing…" (followPhases)
    setBar(ui.textProgress, ui.textPct, 1);
    setBar(ui.audioProgress, ui.audioPct, 1);
  }
});

session.onFirstAudio = (ms) => setMs(ui.ttfa, ms);
session.onPlaybackStart = (ms) => {
  setMs(ui.playbackStart, ms);
  phases.refresh(); // "(speaking already)" while text still arrives
};

session.onFinished = ({ status, playedMs }) => {
  stopFeeding();
  stopHighlight();
  setBusy(false);
  if (ui.underruns) ui.underruns.textContent = String(player.underruns);
  const secs = (playedMs / 1000).toFixed(1);
  const kind = ui.status.dataset.kind;
  if (status === "completed") setStatus(`Done: played ${secs} s of audio.`, "ok");
  else if (status === "cancelled" || status === "stopped") setStatus(`Stopped after ${secs} s.`);
  else if (kind !== "error") setStatus(`Stream ended (${status}).`, "error");
};

socket.onClose((ev) => {
  if (!session.active) setStatus(`Disconnected (${ev.code}); Speak reconnects.`, "warn");
});

// ---- init ----

if (params.get("tts") && providers.some((p) => p.alias === params.get("tts"))) {
  ui.tts.value = params.get("tts");
}
if (params.get("voice")) ui.voice.dataset.wanted = params.get("voice");
if (params.get("stream") === "1") ui.streamInput.checked = true;
fillVoices();

ui.tts.addEventListener("change", fillVoices);
ui.speak.addEventListener("click", speak);
ui.stop.addEventListener("click", stop);
ui.text.addEventListener("input", updateCharCount);
ui.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) speak(); // Ctrl/Cmd+Enter speaks
});
updateCharCount();
setBusy(false);
setStatus("Ready.");
root.dataset.ready = "1";

if (params.get("autostart") === "1") speak();
