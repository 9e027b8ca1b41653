/**
 * tts-page.js: wires the TTS demo page (templates/tts.html) to streaming.js.
 *
 * One TtsPage is created when the page has loaded; it holds all of the page's state.
 * Query parameters preselect the form:
 *   ?stream=1     tick "stream the text in word by word"
 *   ?tts=ALIAS&voice=NAME  preselect provider / voice
 * The page's state shows on #tts-app as data-state (see StreamDetails in streaming.js).
 */
import {
  Captions,
  followPhases,
  PcmPlayer,
  raiseBar,
  setBar,
  setMs,
  setUpVoicePickers,
  showStatus,
  StreamDetails,
  StreamingSocket,
  StreamSession,
} from "./streaming.js";

const WORD_INTERVAL_MS = 40;

class TtsPage {
  constructor(root) {
    const $ = (id) => document.getElementById(id);
    this.root = root;
    this.params = new URLSearchParams(location.search);
    this.ui = {
      text: $("text"), tts: $("tts"), voice: $("voice"), streamInput: $("stream-input"),
      speak: $("speak"), stop: $("stop"), status: $("status"), segments: $("segments"),
      textProgress: $("text-progress"), audioProgress: $("audio-progress"),
      textPct: $("text-progress-value"), audioPct: $("audio-progress-value"),
      ttfa: $("ttfa"), playbackStart: $("playback-start"), ttfaServer: $("ttfa-server"),
      overhead: $("overhead"), underruns: $("underruns"), charCount: $("char-count"),
    };
    this.player = new PcmPlayer();
    this.socket = new StreamingSocket(root.dataset.wsPath || "/api/tts/ws");
    this.session = new StreamSession(this.socket, this.player);
    this.details = new StreamDetails(this.session, root);
    this.captions = new Captions($("caption"), this.session);

    this.textTotal = 0; // length of the text this page is sending for the current stream
    this.streamingIn = false; // the current stream's text is sent word by word
    this.feedTimer = null; // word-by-word sender
    this.segments = []; // [{el, atMs}] atMs = stream audio offset where the segment starts
    this.highlightTimer = null;

    // The status line follows the stream's phases (receiving text, speaking, finishing),
    // unless the browser blocks audio: then its warning stays.
    this.phases = followPhases(this.session, (text) => this.player.running && this.setStatus(text), {
      wholeText: () => !this.streamingIn,
    });
    this.listen();
    this.init();
  }

  // ---- small UI helpers ----

  setStatus(text, kind = "info") { showStatus(this.ui.status, text, kind); }

  setBusy(busy) {
    this.ui.stop.disabled = !busy;
    this.ui.speak.title = busy ? "Stop the current stream and speak again" : "";
    this.root.dataset.busy = busy ? "1" : "0";
  }

  updateCharCount() {
    const { charCount, text } = this.ui;
    if (charCount) charCount.textContent = `${text.value.length} / ${text.maxLength}`;
  }

  resetReadouts() {
    const ui = this.ui;
    setBar(ui.textProgress, ui.textPct, 0);
    setBar(ui.audioProgress, ui.audioPct, 0);
    for (const el of [ui.ttfa, ui.playbackStart, ui.ttfaServer, ui.overhead]) setMs(el, null);
    if (ui.underruns) ui.underruns.textContent = "–";
    ui.segments.replaceChildren();
    this.segments = [];
  }

  // ---- segment highlighting: the last segment whose audio offset has been played ----

  highlight() {
    const played = this.player.playedMs();
    let current = null;
    for (const s of this.segments) if (s.atMs <= played && this.player.started) current = s;
    for (const s of this.segments) {
      s.el.classList.toggle("playing", s === current);
      s.el.classList.toggle("played", s.atMs < played && s !== current);
    }
  }

  stopHighlight() {
    clearInterval(this.highlightTimer);
    this.highlightTimer = null;
    for (const s of this.segments) s.el.classList.remove("playing");
  }

  // ---- word-by-word input ----

  stopFeeding() {
    clearInterval(this.feedTimer);
    this.feedTimer = null;
  }

  feedWords(words) {
    let i = 0;
    this.feedTimer = setInterval(() => {
      const session = this.session;
      if (!session.active || session.phase === "stopping") return this.stopFeeding();
      if (i < words.length) {
        session.sendText(words[i++] + " ");
      } else {
        session.endText();
        this.stopFeeding();
      }
    }, WORD_INTERVAL_MS);
  }

  // ---- actions ----

  async speak() {
    const { ui, session } = this;
    const text = ui.text.value.trim();
    if (!text) return this.setStatus("Type some text first.", "warn");
    this.stopFeeding();
    this.stopHighlight();
    ui.speak.disabled = true;
    try {
      const audible = await this.player.unlock(); // must run inside the click handler
      if (!audible) this.setStatus("The browser blocked audio; click Speak again to enable it.", "warn");
      const streamIn = (this.streamingIn = ui.streamInput.checked);
      const words = text.split(/\s+/).filter(Boolean);
      this.textTotal = streamIn ? words.reduce((n, w) => n + w.length + 1, 0) : text.length;
      const msg = { tts: ui.tts.value };
      if (ui.voice.value) msg.voice = ui.voice.value;
      if (!streamIn) msg.text = text;
      if (audible) this.setStatus("Connecting…");
      await session.start(msg); // stops a running stream first
      if (!session.active) return; // stopped while connecting
      this.resetReadouts(); // runs before any event of the new stream is handled
      this.setBusy(true);
      if (audible) this.setStatus(streamIn ? "Sending text word by word…" : "Waiting for audio…");
      this.highlightTimer = setInterval(() => this.highlight(), 100);
      if (streamIn) this.feedWords(words);
    } catch (e) {
      this.setStatus(`Could not connect: ${e.message}`, "error");
      this.setBusy(false);
    } finally {
      ui.speak.disabled = false;
    }
  }

  async stop() {
    this.stopFeeding();
    this.ui.stop.disabled = true;
    await this.session.stop(); // onFinished updates the status
  }

  // ---- stream events ----

  listen() {
    const { ui, session, player } = this;
    session.on("segment", (m) => {
      const li = document.createElement("li");
      li.dataset.index = m.index;
      li.textContent = m.text;
      // The newest segment comes into view inside the list only (the page must not move away
      // from Speak and Stop), unless the reader has scrolled the list up.
      const list = ui.segments;
      const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(li);
      if (atEnd) list.scrollTop = list.scrollHeight;
      this.segments.push({ el: li, atMs: m.audio_ms }); // where its audio starts in the stream
    });

    session.on("progress", (m) => {
      const total = this.textTotal || 1;
      raiseBar(ui.textProgress, ui.textPct, m.text_done ? 1 : (m.text_chars ?? 0) / total);
      // The share of the text synthesized: of the total this page sends while the server
      // does not know it yet (tts_percent null), then the server's share. Never moves back.
      const share = m.tts_percent != null ? m.tts_percent / 100 : (m.synth_chars ?? 0) / total;
      raiseBar(ui.audioProgress, ui.audioPct, Math.min(share, 1));
    });

    session.on("metrics", (m) => {
      setMs(ui.ttfaServer, m.ttfa_ms);
      setMs(ui.overhead, m.overhead_ms);
    });

    session.on("error", (m) => {
      this.setStatus(`${m.fatal ? "Error" : "Warning"}: ${m.message || m.code}`, m.fatal ? "error" : "warn");
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
      this.phases.refresh(); // "(speaking already)" while text still arrives
    };

    session.onFinished = ({ status, playedMs }) => {
      this.stopFeeding();
      this.stopHighlight();
      this.setBusy(false);
      if (ui.underruns) ui.underruns.textContent = String(player.underruns);
      const secs = (playedMs / 1000).toFixed(1);
      const kind = ui.status.dataset.kind;
      if (status === "completed") this.setStatus(`Done: played ${secs} s of audio.`, "ok");
      else if (status === "cancelled" || status === "stopped") this.setStatus(`Stopped after ${secs} s.`);
      else if (kind !== "error") this.setStatus(`Stream ended (${status}).`, "error");
    };

    this.socket.onClose((ev) => {
      if (!session.active) this.setStatus(`Disconnected (${ev.code}); Speak reconnects.`, "warn");
    });

    ui.speak.addEventListener("click", () => this.speak());
    ui.stop.addEventListener("click", () => this.stop());
    ui.text.addEventListener("input", () => this.updateCharCount());
    ui.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) this.speak(); // Ctrl/Cmd+Enter speaks
    });
  }

  // ---- init ----

  init() {
    const { ui, params } = this;
    setUpVoicePickers(ui.tts, ui.voice, params);
    if (params.get("stream") === "1") ui.streamInput.checked = true;
    this.updateCharCount();
    this.setBusy(false);
    this.setStatus("Ready.");
    this.root.dataset.ready = "1";
  }
}

document.addEventListener("DOMContentLoaded", () => new TtsPage(document.getElementById("tts-app")));
