/**
 * streaming.js: page-agnostic browser client for the streaming voice protocol.
 *
 *   PcmPlayer        gapless playback of streamed PCM s16le mono (one AudioContext)
 *   StreamingSocket  WebSocket wrapper: JSON events by `type`, binary frames = audio
 *   StreamSession    glues both, one stream at a time (start/cancel, played, client_metrics)
 *   Captions         a caption line that follows the voice, word by word
 *   page helpers     status line, progress bars, readouts, the "Stream details" panel
 *
 * Nothing here keeps state at module level or on `window`: each page creates its own
 * objects, and tests watch the page as a person does (its text, its data-* attributes).
 */

const now = () => performance.now();

const subscribe = (set, fn) => (set.add(fn), () => set.delete(fn));
function call(set, arg) {
  for (const fn of set ?? []) try { fn(arg); } catch (e) { console.error(e); }
}

// ---- PcmPlayer ----

export class PcmPlayer {
  /** @param {{cushion?: number, maxCushion?: number}} opts lead time in seconds */
  constructor({ cushion = 0.05, maxCushion = 0.3 } = {}) {
    this.ctx = null;
    this.baseCushion = cushion;
    this.maxCushion = maxCushion;
    this.onPlaybackStart = null; // (performanceNowMs) => void, when sound actually starts
    this.onDrained = null; // () => void, after end() once everything has played
    this._gen = 0; // bumped on stop/begin so stale callbacks are ignored
    this._reset(24000);
  }

  _reset(sampleRate) {
    clearInterval(this._poll);
    this._poll = null;
    this.sampleRate = sampleRate;
    this.cushion = this.baseCushion;
    this.underruns = 0;
    this._playhead = 0; // ctx time where the next buffer should start
    this._firstStart = null;
    this._started = this._ended = this._drained = false;
    this._carry = null; // odd trailing byte from the previous push
    this._sources = new Set();
    this._spans = []; // [startSec, durationSec] of buffers not yet finished
    this._finishedMs = this._scheduledMs = 0;
  }

  _context() {
    if (!this.ctx) {
      const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
      this.ctx = new AC(); // hardware rate; buffers at the stream rate get resampled
    }
    return this.ctx;
  }

  /** True once the AudioContext is running (autoplay allowed / unlocked). */
  get running() { return !!this.ctx && this.ctx.state === "running"; }

  /** True once the current stream's first buffer is audible. */
  get started() { return this._started; }

  /** True once the current stream has ended (end()) and all of it has played. */
  get drained() { return this._drained; }

  /** Create/resume the AudioContext; call from a user gesture. Resolves to `running`. */
  async unlock(timeoutMs = 500) {
    const ctx = this._context();
    if (ctx.state !== "running") {
      // resume() stays pending while autoplay is blocked: don't hang on it.
      await Promise.race([ctx.resume().catch(() => {}), new Promise((r) => setTimeout(r, timeoutMs))]);
    }
    return ctx.state === "running";
  }

  /** Start a new stream at `sampleRate` (silences anything still playing). */
  begin(sampleRate) { this._stopSources(); this._reset(sampleRate || 24000); }

  /** Queue a chunk of PCM s16le mono bytes (any length; an odd byte is carried over). */
  push(arrayBuffer) {
    const ctx = this._context();
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    let bytes = new Uint8Array(arrayBuffer);
    if (this._carry !== null) {
      const joined = new Uint8Array(bytes.length + 1);
      joined.set(bytes, 1);
      joined[0] = this._carry;
      [bytes, this._carry] = [joined, null];
    }
    if (bytes.length % 2) [this._carry, bytes] = [bytes[bytes.length - 1], bytes.subarray(0, -1)];
    const n = bytes.length >> 1;
    if (!n) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buf = ctx.createBuffer(1, n, this.sampleRate);
    const ch = buf.getChannelData(0);
    for (let i = 0; i < n; i++) ch[i] = view.getInt16(2 * i, true) / 32768;
    this._schedule(buf);
  }

  _schedule(buf) {
    const ctx = this.ctx, t = ctx.currentTime;
    let start;
    if (this._firstStart === null) {
      start = this._firstStart = t + this.cushion;
      this._watchStart();
    } else if (this._playhead >= t) {
      start = this._playhead; // still ahead of the clock: gapless
    } else {
      // The playhead fell behind the clock: the listener heard a gap.
      if (!this._ended) this.underruns++;
      this.cushion = Math.min(this.cushion * 2, this.maxCushion); // more margin from now on
      start = t + this.cushion;
    }
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(ctx.destination);
    const gen = this._gen;
    src.onended = () => gen === this._gen && this._sources.delete(src) && this._checkDrained();
    src.start(start);
    this._sources.add(src);
    this._spans.push([start, buf.duration]);
    this._scheduledMs += buf.duration * 1000;
    this._playhead = start + buf.duration;
  }

  /** Poll until the first buffer is audible, then fire onPlaybackStart. */
  _watchStart() {
    const gen = this._gen;
    clearInterval(this._poll);
    const poll = (this._poll = setInterval(() => {
      if (gen !== this._gen) return clearInterval(poll);
      const late = this.ctx.currentTime - this._firstStart;
      if (late < 0) return;
      clearInterval(poll);
      this._poll = null;
      if (this._started) return; // audible again after clear(): the stream started before
      this._started = true;
      this.onPlaybackStart?.(now() - late * 1000); // corrected for polling latency
    }, 5));
  }

  /** No more input for this stream; onDrained fires once everything has played. */
  end() { this._ended = true; this._checkDrained(); }
  _checkDrained() {
    if (!this._ended || this._drained || this._sources.size) return;
    this._drained = true;
    const gen = this._gen;
    setTimeout(() => gen === this._gen && this.onDrained?.(), 0);
  }

  _stopSources() {
    this._gen++;
    for (const src of this._sources) {
      src.onended = null;
      try { src.stop(); src.disconnect(); } catch { /* already stopped */ }
    }
    this._sources.clear();
    clearInterval(this._poll);
  }

  /** Drop the queued audio now but keep the stream: what is pushed next plays after a new
   * cushion (not an underrun), and playedMs() goes on from what was heard. */
  clear() {
    const played = this.playedMs();
    this._stopSources();
    this._spans = [];
    this._finishedMs = this._scheduledMs = played;
    this._firstStart = null;
    this._playhead = 0;
    this._checkDrained();
  }

  /** Barge-in: silence everything now and reset. Returns the ms played before stopping. */
  stop() {
    const played = this.playedMs();
    this._stopSources();
    this._reset(this.sampleRate);
    return played;
  }

  /** Milliseconds of this stream's audio actually played so far. */
  playedMs() {
    if (!this.ctx) return 0;
    const t = this.ctx.currentTime, spans = this._spans;
    while (spans.length && spans[0][0] + spans[0][1] <= t) this._finishedMs += spans.shift()[1] * 1000;
    let ms = this._finishedMs;
    for (const [s, d] of spans) if (s < t) ms += Math.min(t - s, d) * 1000;
    return ms;
  }

  /** Milliseconds of this stream's audio scheduled so far. */
  scheduledMs() { return this._scheduledMs; }
}

// ---- StreamingSocket ----

export class StreamingSocket {
  /** @param {string} path e.g. "/api/tts/ws" (or a full ws(s):// URL) */
  constructor(path) {
    this.path = path;
    this.ws = null;
    this._opening = null;
    this._handlers = new Map(); // type -> Set(fn); "*" = every JSON event
    this._audio = new Set();
    this._close = new Set();
  }

  get url() {
    if (/^wss?:/.test(this.path)) return this.path;
    return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${this.path}`;
  }

  get isOpen() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }

  /** Open the socket (no-op if open). Resolves to this; rejects if it cannot connect. */
  connect() {
    if (this.isOpen) return Promise.resolve(this);
    if (this._opening) return this._opening;
    this._opening = new Promise((resolve, reject) => {
      const ws = (this.ws = new WebSocket(this.url));
      ws.binaryType = "arraybuffer";
      let opened = false;
      const fail = () => reject(new Error(`cannot connect to ${this.url}`));
      ws.onopen = () => { opened = true; this._opening = null; resolve(this); };
      ws.onerror = () => opened || fail();
      ws.onclose = (ev) => {
        this._opening = null;
        if (this.ws === ws) this.ws = null;
        if (!opened) return fail();
        call(this._close, ev);
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") return call(this._audio, ev.data);
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return console.warn("non-JSON frame", ev.data); }
        call(this._handlers.get(msg.type), msg);
        call(this._handlers.get("*"), msg);
      };
    });
    return this._opening;
  }

  /** JSON-encode and send; returns false if the socket is not open. */
  send(obj) { return this.isOpen && (this.ws.send(JSON.stringify(obj)), true); }

  /** Send a binary frame (ArrayBuffer or typed array); returns false if the socket is not open. */
  sendBytes(data) { return this.isOpen && (this.ws.send(data), true); }

  /** Subscribe to JSON events of `type` ("*" = all). Returns an unsubscribe function. */
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    return subscribe(this._handlers.get(type), fn);
  }

  /** Subscribe to binary (audio) frames: fn(arrayBuffer). */
  onAudio(fn) { return subscribe(this._audio, fn); }

  /** Subscribe to the close of an opened socket: fn(CloseEvent). */
  onClose(fn) { return subscribe(this._close, fn); }
  close(code = 1000, reason = "") { this.ws?.close(code, reason); }
}

// ---- StreamSession ----

/**
 * One stream at a time over a long-lived StreamingSocket.
 * phase: "idle" | "pending" (awaiting `session`) | "streaming" (incl. draining) | "stopping".
 * Late events of finished streams (by session_id) and audio outside a stream are ignored.
 * What the current (or last) stream received is kept on the session: `events` (each JSON
 * event type and "audio", in the order each first arrived, with its count), `audioFrames`,
 * `audioBytes`; `status` is how the last stream finished.
 */
export class StreamSession {
  constructor(socket, player = new PcmPlayer(), opts = {}) {
    this.socket = socket;
    this.player = player;
    this.playedIntervalMs = opts.playedIntervalMs ?? 250;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 2000; // how long to await `done` after cancel
    this.acceptServerStreams = opts.acceptServerStreams ?? false; // play a `session` while idle
    // `cancel` tells the server what was heard (e.g. a voicebot truncating its history): it is
    // also sent when stopping after `done` while audio still plays, and it carries no
    // `played_ms` for a stream that was never announced (nothing of it was heard).
    this.reportHeard = opts.reportHeard ?? false;
    this.phase = "idle";
    this.status = null; // how the last stream finished (the `status` of onFinished)
    this.onFirstAudio = null; // (ttfaMs) => void, client-measured from the request
    this.onPlaybackStart = null; // (playbackStartMs) => void, from the request
    this.onFinished = null; // ({status, playedMs, sessionId}) => void
    this._listeners = new Map();
    this._phaseListeners = new Set();
    this._stale = new Set();
    this._token = 0;
    this._newStream();
    socket.on("*", (msg) => this._onEvent(msg));
    socket.onAudio((buf) => this._onAudio(buf));
    socket.onClose((ev) => this._onClose(ev));
    player.onPlaybackStart = (t) => this._onPlaybackStart(t);
    player.onDrained = () => this._onDrained();
  }

  get active() { return this.phase !== "idle"; }

  /** The server has sent all of the stream (`done`); its audio is still playing here. */
  get draining() { return this.phase === "streaming" && this._done; }

  /** Listen to JSON events of the current stream ("*" = all). Returns an unsubscribe function. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    return subscribe(this._listeners.get(type), fn);
  }

  /** Listen to phase changes: fn(phase) (after a stream finished, `status` says how). */
  onPhase(fn) { return subscribe(this._phaseListeners, fn); }

  _enter(phase) {
    if (phase === this.phase) return;
    this.phase = phase;
    call(this._phaseListeners, phase);
  }

  _newStream() {
    this.sessionId = this.firstAudioAt = this.playbackStartMs = this.doneStatus = null;
    this.requestedAt = now();
    this.events = []; // [type, count] in the order each type first arrived
    this.audioFrames = this.audioBytes = 0;
    this._done = this._metricsSent = this._accept = false;
    this._lastPlayed = -1;
  }

  _count(type) {
    const seen = this.events.find((e) => e[0] === type);
    if (seen) seen[1]++;
    else this.events.push([type, 1]);
  }

  /** Stop any running stream, connect, send `start` ({text?, tts?, voice?}). */
  async start(msg = {}) {
    if (this.active) await this.stop();
    const token = ++this._token;
    this.expect();
    try { await this.socket.connect(); } catch (e) {
      this._finish("failed", 0);
      throw e;
    }
    if (token !== this._token) return; // stopped (or restarted) while connecting
    this.requestedAt = now();
    this.socket.send({ ...msg, type: "start" });
  }

  /** Expect a stream the server starts by itself (e.g. a voicebot reply); TTFA counts from now. */
  expect() {
    this._newStream();
    this.status = null;
    this._enter("pending");
  }

  /** Stop waiting for a stream the server will not start (e.g. it heard nothing): idle, nothing sent. */
  abandon(status = "abandoned") {
    if (this.phase === "pending") this._finish(status, 0);
  }

  /** End the current stream here without telling the server, which has moved on by itself
   * (to a turn it decided): its audio stops. It finishes as the server ended it when all of
   * it had played, else "stopped". A stop in progress finishes by itself. */
  drop() {
    if (this.phase !== "pending" && this.phase !== "streaming") return;
    this._token++;
    const status = this._done && this.player.drained ? this.doneStatus : "stopped";
    const played = this.player.stop();
    this._sendMetrics(played);
    this._finish(status, this.sessionId != null ? played : 0);
  }

  /** The server dropped this stream's audio queued here (`clear`: the listener barged in):
   * silence it now, and take none of its frames until resumeAudio(). */
  clearAudio() {
    if (this.phase !== "streaming") return;
    this.player.clear();
    this._accept = false;
  }

  /** The server sends this stream's audio again, from where it was cut (`resumed`). */
  resumeAudio() { if (this.phase === "streaming") this._accept = true; }

  /** Incremental input for a stream started without `text`. */
  sendText(delta) { return this._inStream() && this.socket.send({ type: "text", delta }); }

  /** End of incremental input. */
  endText() { return this._inStream() && this.socket.send({ type: "end" }); }
  _inStream() { return this.phase === "pending" || this.phase === "streaming"; }

  /** Barge-in / Stop: cancel the stream. Resolves when the server confirms (`done`) or times out. */
  stop() {
    if (this.phase === "stopping") return this._stopping;
    if (!this.active) return Promise.resolve();
    this._token++;
    const announced = this.sessionId != null; // else the player still holds the last stream
    const played = announced ? Math.round(this.player.stop()) : (this.player.stop(), 0);
    this._accept = false;
    if (this._done || !this.socket.isOpen) {
      // The server already finished (we were only draining), or there is nothing to cancel.
      if (this._done && this.reportHeard) this.socket.send({ type: "cancel", played_ms: played });
      this._sendMetrics(played);
      this._finish("stopped", played);
      return Promise.resolve();
    }
    this.socket.send(announced || !this.reportHeard
      ? { type: "cancel", played_ms: played } : { type: "cancel" });
    this._sendMetrics(played);
    this._enter("stopping");
    return (this._stopping = new Promise((resolve) => {
      const timer = setTimeout(() => this._resolveStop(), this.stopTimeoutMs);
      this._resolveStop = () => {
        clearTimeout(timer);
        this._resolveStop = null;
        this._sendMetrics(played); // no-op unless the session was announced while stopping
        this._finish("cancelled", played);
        resolve();
      };
    }));
  }

  _onEvent(msg) {
    if (msg.session_id != null && this._stale.has(msg.session_id)) return; // finished stream
    if (msg.type === "session" && !this._onSession(msg)) return;
    if (this.active) this._count(msg.type);
    if (msg.type === "done") this._onDone(msg);
    if (msg.type === "error" && msg.fatal && this.phase === "pending") this._finish("failed", 0);
    call(this._listeners.get(msg.type), msg);
    call(this._listeners.get("*"), msg);
  }

  /** Returns false if this `session` is to be ignored. */
  _onSession(msg) {
    if (this.phase === "stopping") {
      this.sessionId = msg.session_id; // the stream being cancelled announced itself
      return true;
    }
    if (this.phase === "idle") {
      if (!this.acceptServerStreams) {
        this._stale.add(msg.session_id); // unsolicited stream: ignore all of it
        return false;
      }
      this.expect();
    }
    this.sessionId = msg.session_id;
    this._accept = true;
    this.player.begin(msg.sample_rate);
    clearInterval(this._playedTimer);
    this._playedTimer = setInterval(() => this._tickPlayed(), this.playedIntervalMs);
    this._enter("streaming");
    return true;
  }

  _onDone(msg) {
    this.doneStatus = msg.status;
    if (this.phase === "stopping") return this._resolveStop?.();
    if (this.phase === "pending") return this._finish(msg.status, 0);
    if (this.phase !== "streaming") return;
    this._done = true;
    this.player.end(); // -> onDrained once the queued audio has played
    if (!this.player.running) this._onDrained(); // suspended context never drains
  }

  _onAudio(buf) {
    if (!this._accept) return;
    this.audioFrames++;
    this.audioBytes += buf.byteLength;
    this._count("audio");
    if (this.firstAudioAt === null) {
      this.firstAudioAt = now();
      this.onFirstAudio?.(this.firstAudioAt - this.requestedAt);
    }
    this.player.push(buf);
  }

  _onPlaybackStart(t) {
    if (this.phase !== "streaming") return;
    this.playbackStartMs = t - this.requestedAt;
    this.onPlaybackStart?.(this.playbackStartMs);
  }

  // After `done` the server takes no `played` (one arriving once it has started the next
  // stream by itself, a turn it decided, would count on that one).
  _tickPlayed() {
    if (this.phase === "streaming" && this.player.started && !this._done) this._sendPlayed(this.player.playedMs());
  }
  // Naming the session: a report still in flight when the server ends this stream and
  // starts the next by itself is not counted on that one.
  _sendPlayed(ms) {
    ms = Math.round(ms);
    if (ms === this._lastPlayed) return;
    this.socket.send({ type: "played", ms: (this._lastPlayed = ms), session_id: this.sessionId });
  }

  _onDrained() {
    if (this.phase !== "streaming" || !this._done) return;
    const played = this.player.playedMs();
    this._sendMetrics(played);
    this._finish(this.doneStatus, played);
  }

  /** Send `client_metrics` once per stream (needs a session_id). */
  _sendMetrics(playedMs) {
    if (this._metricsSent || this.sessionId == null) return;
    this._metricsSent = true;
    const r = (v) => (v == null ? null : Math.round(v));
    this.socket.send({
      type: "client_metrics",
      session_id: this.sessionId,
      playback_start_ms: r(this.playbackStartMs),
      underruns: this.player.underruns,
      played_ms: r(playedMs),
      ttfa_ms: this.firstAudioAt == null ? null : r(this.firstAudioAt - this.requestedAt),
      audio_frames: this.audioFrames,
      audio_bytes: this.audioBytes,
    });
  }

  _finish(status, playedMs) {
    clearInterval(this._playedTimer);
    if (this.sessionId != null) this._stale.add(this.sessionId);
    this._accept = false;
    this.status = status;
    this._enter("idle");
    this.onFinished?.({ status, playedMs: Math.round(playedMs), sessionId: this.sessionId });
  }

  _onClose(ev) {
    if (!this.active) return;
    const played = this.player.stop();
    if (this.phase === "stopping") return this._resolveStop?.();
    this._finish("closed", played);
  }
}

// ---- page helpers shared by the TTS and voicebot pages ----

/** Show a status line; `kind` is info | ok | warn | error (styled by data-kind). */
/**
 * A caption line that follows the voice: the words of the segment being heard, the word
 * being said marked `.now` and those said before it `.said`. Each `segment` event says
 * where its audio starts in the stream (`audio_ms`) and its `words` event when each of its
 * words is said ([text, start_ms, end_ms] from there); the player says what has played.
 * The line's `data-segment` and `data-word` (indexes, -1 for none) tell tests where it is.
 */
export class Captions {
  constructor(el, session) {
    this.el = el;
    this.player = session.player;
    this.segments = []; // {index, atMs, text, words} in the order announced
    this._shown = null; // the segment on the line
    this._frame = 0;
    session.on("session", () => this.clear());
    session.on("segment", (m) => this.segments.push({
      index: m.index, atMs: m.audio_ms, text: m.text, words: null }));
    session.on("words", (m) => {
      const segment = this.segments.find((s) => s.index === m.index);
      if (segment) { segment.words = m.words; if (segment === this._shown) this._show(segment); }
    });
    session.onPhase((phase) => (phase === "streaming" ? this._follow() : this._stop()));
    this.clear();
  }

  /** Empty the line (a new stream). */
  clear() {
    this.segments = [];
    this._shown = null;
    this.el.replaceChildren();
    this._mark(-1, -1);
  }

  _follow() {
    if (this._frame) return;
    const tick = () => { this._frame = requestAnimationFrame(tick); this.update(); };
    this._frame = requestAnimationFrame(tick);
  }

  _stop() {
    cancelAnimationFrame(this._frame);
    this._frame = 0;
    this.update(); // the last word heard stays marked
  }

  /** Show the segment and word at the player's position now. */
  update() {
    const played = this.player.started ? this.player.playedMs() : -1;
    let segment = null;
    for (const s of this.segments) if (s.atMs <= played) segment = s;
    if (segment !== this._shown) this._show(segment);
    if (!segment) return;
    const at = played - segment.atMs;
    let word = -1;
    (segment.words ?? []).forEach(([, start], i) => { if (start <= at) word = i; });
    if (word === this._word) return; // the line already marks it
    this._word = word;
    this.el.querySelectorAll(".word").forEach((span, i) => {
      span.classList.toggle("said", i < word);
      span.classList.toggle("now", i === word);
    });
    this._mark(segment.index, word);
  }

  _show(segment) {
    this._shown = segment;
    this._word = null; // new spans: mark them at the next update
    if (!segment) return this.el.replaceChildren();
    const words = segment.words ? segment.words.map(([text]) => text) : segment.text.split(/\s+/);
    this.el.replaceChildren(...words.flatMap((text, i) => {
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = text;
      return i ? [" ", span] : [span];
    }));
  }

  _mark(segment, word) {
    this.el.dataset.segment = segment;
    this.el.dataset.word = word;
  }
}

export function showStatus(el, text, kind = "info") {
  el.textContent = text;
  el.dataset.kind = kind;
}

/** Set a 0-100 progress bar and its percentage label from a fraction (the label rounds
 * down: it says 100% only when the bar is full). */
export function setBar(bar, label, fraction) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  bar.value = pct;
  if (label) label.textContent = `${Math.floor(pct)}%`;
}

/** Like setBar, but never lower than the bar already shows (reset it with setBar). */
export function raiseBar(bar, label, fraction) {
  const shown = bar.hasAttribute("value") ? bar.value / 100 : 0; // indeterminate: none yet
  setBar(bar, label, Math.max(shown, fraction));
}

/** Show an indeterminate bar (a total not known yet) with a label such as "4.2 s". */
export function setGrowing(bar, label, text) {
  bar.removeAttribute("value");
  if (label) label.textContent = text;
}

// ---- stream phases, for the status line of every page ----

/**
 * The phase of a stream:
 *   "receiving"  its text (typed input, or an LLM's answer) is still arriving; audio may
 *                already play;
 *   "speaking"   all the text is in; audio is still being synthesized and sent;
 *   "finishing"  all the audio has arrived (`done`, completed); the rest is playing out.
 */
export function streamPhase({ textDone = false, audioDone = false } = {}) {
  return audioDone ? "finishing" : textDone ? "speaking" : "receiving";
}

/** The status line of a phase; `subject` names the text ("text", "the answer"). */
export function phaseText(phase, { playing = false, subject = "text" } = {}) {
  if (phase === "finishing") return "Finishing… (all audio received, playing the rest)";
  if (phase === "speaking") return playing ? "Speaking…" : "Speaking… (the first audio is on its way)";
  return `Receiving ${subject}…${playing ? " (speaking already)" : ""}`;
}

/**
 * Follow the phases of `session`'s streams: `show(text, phase)` runs when a stream is
 * announced and whenever its phase, or whether its audio is playing yet, changes (not on
 * every event, so a warning shown meanwhile stays until the next change), and only while
 * the stream is streaming (never over a stop, an error or the final status).
 * `wholeText()` tells whether the page sent the whole text with `start` (the stream then
 * starts out "speaking"). Call `refresh()` when playback starts.
 */
export function followPhases(session, show, { subject = "text", wholeText = () => false } = {}) {
  const state = { textDone: false, audioDone: false, shown: "" };
  const refresh = () => {
    if (session.phase !== "streaming") return;
    const phase = streamPhase(state);
    const text = phaseText(phase, { playing: session.player.started, subject });
    if (text === state.shown) return;
    state.shown = text;
    show(text, phase);
  };
  session.on("session", () => {
    Object.assign(state, { textDone: !!wholeText(), audioDone: false, shown: "" });
    refresh();
  });
  session.on("progress", (m) => {
    if (m.text_done) state.textDone = true;
    refresh();
  });
  session.on("done", (m) => {
    if (m.status !== "completed") return;
    Object.assign(state, { textDone: true, audioDone: true });
    refresh();
  });
  return { refresh, get phase() { return streamPhase(state); } };
}

export const fmtMs = (ms) => (ms == null || Number.isNaN(ms) ? "–" : `${Math.round(ms)} ms`);

/** Show a millisecond readout (and keep the number in data-ms for tests). */
export function setMs(el, ms) {
  if (!el) return;
  el.textContent = fmtMs(ms);
  if (ms == null) delete el.dataset.ms;
  else el.dataset.ms = String(Math.round(ms));
}

/**
 * The "Stream details" panel (templates/_progress.html) and the page's `data-state`, the
 * state of its current or last stream: "idle" (none yet), "pending" (asked for, not announced
 * yet), "streaming" (until its audio has played out), "stopping", then how it finished
 * ("completed", "cancelled", "stopped", "failed", "closed", ...).
 */
export class StreamDetails {
  constructor(session, root) {
    this.session = session;
    this.root = root;
    this.els = {
      session: root.querySelector("#detail-session"),
      events: root.querySelector("#detail-events"),
      audio: root.querySelector("#detail-audio"),
    };
    session.onPhase(() => this.update());
    session.on("*", () => this.update());
    this.update();
  }

  update() {
    const s = this.session;
    this.root.dataset.state = s.active ? s.phase : s.status ?? "idle";
    this.els.session.textContent = s.sessionId ?? "–";
    // no-break spaces: a line breaks after a separator, never inside "audio ×34" or before "·"
    this.els.events.textContent = s.events.map(([type, n]) => (n > 1 ? `${type}\u00a0×${n}` : type))
      .join("\u00a0· ") || "–";
    const kB = (s.audioBytes / 1000).toFixed(1);
    this.els.audio.textContent = s.audioFrames ? `${s.audioFrames} frames, ${kB} kB` : "–";
  }
}

/**
 * Set up the provider and voice pickers (templates/_voice_picker.html): the providers come
 * from the page's "tts-providers" JSON, ?tts=ALIAS and ?voice=NAME in `params` preselect
 * them, and the voice picker follows the provider chosen.
 */
export function setUpVoicePickers(ttsSelect, voiceSelect, params) {
  const providers = JSON.parse(document.getElementById("tts-providers")?.textContent || "[]");
  const tts = params.get("tts");
  if (tts && providers.some((p) => p.alias === tts)) ttsSelect.value = tts;
  if (params.get("voice")) voiceSelect.dataset.wanted = params.get("voice");
  fillVoices(providers, ttsSelect, voiceSelect);
  ttsSelect.addEventListener("change", () => fillVoices(providers, ttsSelect, voiceSelect));
}

/** Fill the voice picker with the voices of the provider chosen in the TTS picker. */
function fillVoices(providers, ttsSelect, voiceSelect) {
  const p = providers.find((x) => x.alias === ttsSelect.value);
  const voices = p?.voices ?? [];
  const wanted = voiceSelect.dataset.wanted;
  voiceSelect.replaceChildren(
    ...(voices.length ? voices : [""]).map((v) => new Option(v || "(default voice)", v)),
  );
  voiceSelect.value = voices.includes(wanted) ? wanted : p?.default_voice ?? voices[0] ?? "";
  voiceSelect.disabled = voices.length < 2;
  delete voiceSelect.dataset.wanted;
}
