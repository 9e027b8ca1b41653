/**
 * voicebot-page.js: wires the voicebot page (templates/voicebot.html) to streaming.js and mic.js.
 *
 * A turn is typed (`user_text`) or spoken with push-to-talk (`audio_start`, 16 kHz PCM
 * frames, `audio_end`); the server answers with a stream (session, llm deltas, segments,
 * audio, done). Pressing Talk or typing over an answer barges in from here: `cancel` with the
 * ms actually heard, and the server keeps only that much of the answer (`truncated`).
 *
 * Hands-free, the server takes the turns: after `listen_start` the microphone streams
 * continuously; the server tells when the user speaks (`speech_started`, `partial` words,
 * then the turn's `transcript`, whose answer follows by itself), when they barged in on an
 * answer (`clear`: drop its queued audio) and when that was not them after all (`resumed`:
 * its audio comes again). `listen_stop` ends it; Mute sends silence meanwhile.
 *
 * One VoicebotPage is created when the page has loaded; it holds all of the page's state.
 * Query parameters preselect the form:
 *   ?handsfree=1  start in hands-free mode
 *   ?tts=ALIAS&voice=NAME  preselect provider / voice
 * The page's state shows on #voicebot-app as data-state (see StreamDetails in streaming.js),
 * data-listening (push-to-talk recording), data-handsfree (the server listens), data-muted,
 * data-mic and data-conversation-id; the assistant's state on #agent-state as
 * data-agent-state (see agentState()).
 */
import {
  Captions, followPhases, PcmPlayer, raiseBar, setBar, setGrowing, setMs, setUpVoicePickers, showStatus,
  StreamDetails, StreamingSocket, StreamSession,
} from "./streaming.js";
import { MicCapture } from "./mic.js";

const PTT_PREROLL_MS = 200; // sent from just before the press: the first syllable is not cut

const inField = (el) => !!el?.closest?.("input, textarea, select, [contenteditable]:not([contenteditable='false'])");
const isSpace = (e) => e.code === "Space" || e.key === " ";

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

class VoicebotPage {
  constructor(root) {
    const $ = (id) => document.getElementById(id);
    this.root = root;
    this.params = new URLSearchParams(location.search);
    this.maxAudioMs = (Number(root.dataset.maxAudioSeconds) || 30) * 1000;
    this.ui = {
      llmLabel: $("llm-label"), llmHint: $("llm-hint"), tts: $("tts"), voice: $("voice"),
      chat: $("chat"), userText: $("user-text"), send: $("send"), talk: $("talk"),
      handsFreeBox: $("handsfree"), mute: $("mute"), agentState: $("agent-state"),
      stop: $("stop"), reset: $("reset"), micLevel: $("mic-level"),
      status: $("status"), textProgress: $("text-progress"), audioProgress: $("audio-progress"),
      textPct: $("text-progress-value"), audioPct: $("audio-progress-value"),
      ttfa: $("ttfa"), playbackStart: $("playback-start"), ttfaServer: $("ttfa-server"),
      overhead: $("overhead"), sttMs: $("stt-ms"), llmTtft: $("llm-ttft"), underruns: $("underruns"),
      micSent: $("detail-mic"),
    };

    this.player = new PcmPlayer();
    this.socket = new StreamingSocket(root.dataset.wsPath || "/api/voicebot/streaming");
    // The server starts each answer; expect() times TTFA from the moment a turn is sent.
    this.session = new StreamSession(this.socket, this.player, { acceptServerStreams: true, reportHeard: true });
    this.details = new StreamDetails(this.session, root);
    this.captions = new Captions($("caption"), this.session);

    this.mic = null; // MicCapture, created on first use (shares the player's AudioContext)
    this.capture = null; // the spoken turn receiving mic frames: see newCapture()
    this.held = null; // what holds push-to-talk: "pointer" | "key"
    this.pressSeq = 0; // tells a press from a later one while it waits for the microphone
    this.micStopped = Promise.resolve(); // the previous capture's last frame has arrived
    this.awaitingTranscript = null; // user bubble of the last push-to-talk turn, until its transcript
    this.handsFree = false; // hands-free: the server listens (`listening`) to the streamed microphone
    this.muted = false; // hands-free: silence goes instead of the microphone
    this.cut = false; // the user barged in (`clear`): the answer's audio was dropped
    this.partialBubble = null; // hands-free: the words so far of the user's utterance
    this.answers = new Map(); // session_id -> {el, textEl, text}
    this.conversationId = null;
    this.audioShare = false; // the audio bar shows a share (the answer's length is known)
    this.synthMs = 0; // most audio synthesized (ms) shown for the current answer
    this.answerStartedAt = null; // when the current answer's `session` arrived (performance.now)
    this.firstTokenShown = false; // "LLM first token" shows the current answer's first delta
    this.micFrames = this.micBytes = 0; // sent since the last spoken turn or listening began
    // Turns open one after another: each waits until the answer it interrupts has ended.
    this.turnQueue = Promise.resolve();

    // The status line follows the answer's phases (receiving it, speaking, finishing), except
    // while the user is talking (held Talk, or a barge-in): then it keeps saying "Listening…".
    this.phases = followPhases(this.session, (text) => !this.capture && !this.cut && this.setStatus(text), {
      subject: "the answer",
    });
    this.listen();
    this.init();
  }

  // ---- small UI helpers ----

  setStatus(text, kind = "info") { showStatus(this.ui.status, text, kind); }

  refreshButtons() {
    this.ui.stop.disabled = !this.session.active;
    this.root.dataset.busy = this.session.active ? "1" : "0";
  }

  /** A push-to-talk turn is (not) being recorded. */
  setListening(on) {
    const talk = this.ui.talk;
    this.root.dataset.listening = on ? "1" : "0";
    talk.classList.toggle("active", on);
    talk.textContent = !on ? "Hold to talk" : this.held ? "Listening… release to send" : "Listening…";
    this.showAgentState();
  }

  /**
   * What the assistant is doing: "listening" (to a held Talk, or hands-free when not
   * answering), "thinking" (a turn is in and none of its answer is audible yet), "speaking"
   * (the answer's audio plays, until it has played out) or "idle".
   */
  agentState() {
    const { phase } = this.session;
    if (this.capture && !this.capture.ended) return "listening";
    if (phase === "pending") return "thinking";
    if (phase === "streaming" && !this.cut) return this.player.started ? "speaking" : "thinking";
    return this.handsFree && !this.muted ? "listening" : "idle";
  }

  showAgentState() {
    const state = this.agentState();
    const el = this.ui.agentState;
    el.dataset.agentState = state;
    el.textContent = state === "idle" && this.muted ? "Muted" : state[0].toUpperCase() + state.slice(1);
  }

  setHeld(src) {
    this.held = src;
    this.ui.talk.setAttribute("aria-pressed", src ? "true" : "false");
  }

  voiceChoice() {
    const choice = { tts: this.ui.tts.value };
    if (this.ui.voice.value) choice.voice = this.ui.voice.value;
    return choice;
  }

  /** Hands-free turns take the voice chosen when listening began: `start` (without text)
   * sets it for the next ones. */
  voiceChanged() {
    if (this.handsFree) this.socket.send({ type: "start", ...this.voiceChoice() });
  }

  showMicSent() {
    if (!this.ui.micSent) return;
    const secs = (this.micBytes / 2 / (this.mic?.sampleRate || 16000)).toFixed(1);
    this.ui.micSent.textContent = this.micFrames ? `${secs} s (${this.micFrames} frames)` : "–";
  }

  /** Clear the readouts for a new turn (after the previous stream has fully ended). */
  newTurn() {
    const ui = this.ui;
    setBar(ui.textProgress, ui.textPct, 0);
    setBar(ui.audioProgress, ui.audioPct, 0);
    this.audioShare = false;
    this.synthMs = 0;
    this.firstTokenShown = false;
    for (const el of [ui.ttfa, ui.playbackStart, ui.ttfaServer, ui.overhead, ui.sttMs, ui.llmTtft]) {
      setMs(el, null);
    }
    ui.underruns.textContent = "–";
  }

  // ---- chat ----

  /** Keep the newest text in view, inside the chat box only (the page must not move under Talk). */
  scrollChat(force = false) {
    const c = this.ui.chat;
    if (force || c.scrollHeight - c.scrollTop - c.clientHeight < 80) c.scrollTop = c.scrollHeight;
  }

  addBubble(role, text) {
    const li = document.createElement("li");
    li.className = `turn ${role}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : role === "assistant" ? "Assistant" : "";
    const p = document.createElement("p");
    p.className = "text";
    p.textContent = text ?? "";
    li.append(who, p);
    this.ui.chat.append(li);
    this.scrollChat(true);
    return li;
  }

  addNote(text) {
    const li = document.createElement("li");
    li.className = "turn note";
    li.textContent = text;
    this.ui.chat.append(li);
    this.scrollChat();
  }

  answerFor(sessionId) {
    let a = this.answers.get(sessionId);
    if (!a) {
      const el = this.addBubble("assistant", "");
      el.dataset.sessionId = sessionId;
      el.classList.add("streaming");
      a = { el, textEl: el.querySelector(".text"), text: "" };
      this.answers.set(sessionId, a);
    }
    return a;
  }

  /** Barge-in: the heard part stays, the rest of the answer is struck through. */
  showTruncated(a, heard) {
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

  async ensureConnected() {
    try {
      await this.socket.connect();
      return true;
    } catch (e) {
      this.setStatus(`Could not connect: ${e.message}`, "error");
      return false;
    }
  }

  unlockAudio() {
    return this.player.unlock(); // creates/resumes the AudioContext: call inside a user gesture
  }

  /** Interrupt the answer, if any: `cancel` goes out now; resolves once that stream has ended. */
  bargeIn() {
    const session = this.session;
    if (!session.active) return Promise.resolve();
    this.answers.get(session.sessionId)?.el.classList.add("interrupted");
    return session.stop();
  }

  expectAnswer(what) {
    this.session.expect();
    this.refreshButtons();
    this.setStatus(what);
  }

  queueTurn(fn) { return (this.turnQueue = this.turnQueue.then(fn, fn)); }

  sendText(text = this.ui.userText.value.trim()) {
    const ui = this.ui;
    if (!text) return this.setStatus("Type a message first.", "warn");
    this.unlockAudio();
    ui.userText.value = "";
    this.bargeIn(); // stop talking right away
    return this.queueTurn(async () => {
      await this.bargeIn();
      if (!(await this.ensureConnected())) {
        ui.userText.value ||= text;
        return;
      }
      this.addBubble("user", text);
      this.newTurn();
      this.socket.send({ type: "user_text", text, ...this.voiceChoice() });
      this.expectAnswer("Thinking…");
    });
  }

  // A push-to-talk capture: {queue, bytes, open (audio_start sent), ended, flushed, done, bubble}

  newCapture() {
    if (this.awaitingTranscript?.dataset.pending) this.awaitingTranscript.remove(); // superseded
    const bubble = this.addBubble("user", "…");
    bubble.dataset.pending = "listening";
    this.capture = { queue: [], bytes: 0, open: false, ended: false, flushed: false, done: false, bubble };
    this.micFrames = this.micBytes = 0;
    this.showMicSent();
    this.setListening(true);
    return this.capture;
  }

  async ensureMic() {
    if (this.mic?.isOpen) return true;
    await this.unlockAudio();
    const ui = this.ui;
    this.mic ??= Object.assign(new MicCapture({ context: this.player.ctx }), {
      onFrame: (buf) => this.onMicFrame(buf),
      onLevel: (rms) => { ui.micLevel.value = Math.max(0, Math.min(1, (20 * Math.log10(rms + 1e-9) + 60) / 60)); },
      onEnded: () => {
        this.root.dataset.mic = "closed";
        this.endCapture(); // send what was recorded
        if (ui.handsFreeBox.checked) this.stopListening();
        this.setStatus("The microphone was disconnected.", "warn");
      },
    });
    try {
      this.setStatus("Opening the microphone…");
      await this.mic.open();
      this.root.dataset.mic = "open";
      return true;
    } catch (e) {
      const why = e.name === "NotAllowedError" ? "access was denied (allow it in the site settings)"
        : e.name === "NotFoundError" ? "no microphone was found" : e.message;
      this.setStatus(`Microphone unavailable: ${why}. You can still type.`, "error");
      this.root.dataset.mic = "error";
      return false;
    }
  }

  /** Open the spoken turn on the server once any answer has stopped (frames queue meanwhile). */
  startTurn(cap) {
    this.bargeIn();
    return this.queueTurn(() => this.openTurn(cap));
  }

  async openTurn(cap) {
    await this.bargeIn();
    if (cap.done) return;
    if (!(await this.ensureConnected())) return this.abortCapture(cap);
    if (cap.done) return;
    this.newTurn();
    this.socket.send({ type: "audio_start", sample_rate: this.mic.sampleRate, ...this.voiceChoice() });
    cap.open = true;
    for (const buf of cap.queue.splice(0)) this.sendFrame(buf);
    if (!cap.ended) this.setStatus("Listening… release to send.");
    this.maybeFinish(cap);
  }

  /** A microphone frame: to the push-to-talk turn being recorded, else to the server's
   * listener (hands-free; silence while muted, so that an utterance cut short still ends). */
  onMicFrame(buf) {
    const cap = this.capture;
    if (cap && !cap.flushed && !cap.done) this.captureFrame(cap, buf);
    else if (this.handsFree) this.sendFrame(this.muted ? new ArrayBuffer(buf.byteLength) : buf);
  }

  captureFrame(cap, buf) {
    cap.bytes += buf.byteLength;
    if (cap.open) this.sendFrame(buf);
    else cap.queue.push(buf);
    if (!cap.ended && (cap.bytes / 2 / this.mic.sampleRate) * 1000 >= this.maxAudioMs) {
      this.setStatus(`That is the ${this.maxAudioMs / 1000} s limit for one turn: sending it.`, "warn");
      this.setHeld(null);
      this.endCapture();
    }
  }

  sendFrame(buf) {
    if (!this.socket.sendBytes(buf)) return;
    this.micFrames++;
    this.micBytes += buf.byteLength;
    this.showMicSent();
  }

  /** The push-to-talk turn's last frame: the gate closes, or stays open for hands-free. */
  releaseMic() {
    return (this.micStopped = this.handsFree ? this.mic.flush() : this.mic.stop());
  }

  /** The user let go of Talk: the last frames, then audio_end. */
  async endCapture() {
    const cap = this.capture;
    if (!cap || cap.ended) return;
    cap.ended = true;
    this.setListening(false);
    await this.releaseMic();
    cap.flushed = true;
    this.maybeFinish(cap);
  }

  maybeFinish(cap) {
    if (!cap.open || !cap.flushed || cap.done) return;
    cap.done = true;
    if (this.capture === cap) this.capture = null;
    this.socket.send({ type: "audio_end" });
    cap.bubble.dataset.pending = "transcribing";
    this.awaitingTranscript = cap.bubble;
    this.expectAnswer("Transcribing…");
  }

  /** Drop a capture without audio_end (the socket closed, or a new conversation). */
  abortCapture(cap) {
    cap.done = true;
    if (!cap.ended && this.mic?.isOpen) this.releaseMic();
    cap.ended = cap.flushed = true;
    if (this.capture === cap) this.capture = null;
    cap.bubble.remove();
    this.setListening(false);
  }

  /** Push-to-talk pressed (pointer or Space): barge in, record until released (hands-free
   * too: the frames go to this turn instead of the server's listener meanwhile). */
  async talkDown(src) {
    if (this.held) return;
    this.setHeld(src);
    const press = ++this.pressSeq;
    this.unlockAudio();
    this.bargeIn(); // pressing Talk while the bot speaks interrupts it
    if (!(await this.ensureMic())) return this.setHeld(null);
    await this.micStopped;
    if (this.held !== src || press !== this.pressSeq) { // released before the microphone was ready
      if (this.ui.status.dataset.kind !== "error") {
        this.setStatus("Microphone ready: hold Talk (or Space) while you speak.");
      }
      return;
    }
    const cap = this.newCapture();
    this.mic.start({ preRollMs: PTT_PREROLL_MS }); // (hands-free, the gate is open already)
    await this.startTurn(cap);
  }

  talkUp(src) {
    if (this.held !== src) return;
    this.setHeld(null);
    if (this.capture && !this.capture.ended) this.endCapture();
  }

  async stopAnswer() {
    this.ui.stop.disabled = true;
    await this.bargeIn(); // onFinished updates the status
    this.refreshButtons();
  }

  async newConversation() {
    if (this.capture) this.abortCapture(this.capture);
    await this.bargeIn();
    if (!(await this.ensureConnected())) return;
    this.socket.send({ type: "reset" });
    this.ui.chat.replaceChildren();
    this.answers.clear();
    this.awaitingTranscript = this.partialBubble = null;
    this.newTurn();
    this.setStatus("New conversation.", "ok");
  }

  // ---- hands-free ----

  async toggleHandsFree() {
    this.unlockAudio();
    if (this.ui.handsFreeBox.checked) return this.startListening();
    this.stopListening();
    if (!this.session.active && !this.capture) this.setStatus("Hold Talk (or Space) while you speak.");
  }

  /** Stream the microphone to the server, which listens once it says `listening`. */
  async startListening() {
    const box = this.ui.handsFreeBox;
    if (!(await this.ensureMic()) || !(await this.ensureConnected())) {
      box.checked = false;
      return;
    }
    if (!box.checked) return; // turned off meanwhile
    this.socket.send({ type: "listen_start", sample_rate: this.mic.sampleRate, ...this.voiceChoice() });
    this.mic.start();
  }

  /** No more hands-free: `listen_stop`, and the microphone's gate closes (unless Talk is held). */
  stopListening() {
    this.socket.send({ type: "listen_stop" });
    this.ui.handsFreeBox.checked = false;
    if (this.mic?.isOpen && !this.capture) this.micStopped = this.mic.stop();
    this.dropPartial();
    this.setHandsFree(false);
  }

  /** The server listens (or not): the microphone's frames go to it, and Mute applies. */
  setHandsFree(on) {
    this.handsFree = on;
    this.root.dataset.handsfree = on ? "1" : "0";
    this.ui.mute.disabled = !on;
    if (on) {
      this.micFrames = this.micBytes = 0;
      this.showMicSent();
    }
    this.setMuted(false);
  }

  setMuted(on) {
    this.muted = on;
    this.ui.mute.setAttribute("aria-pressed", String(on));
    this.root.dataset.muted = on ? "1" : "0";
    this.showAgentState();
  }

  toggleMute() {
    this.setMuted(!this.muted);
    this.setStatus(this.muted ? "Muted: the assistant hears silence until you unmute."
      : "Listening again: just speak.");
  }

  /** The words so far of the user's utterance, in a bubble marked partial. */
  showPartial(text) {
    if (!text) return;
    if (!this.partialBubble) {
      this.partialBubble = this.addBubble("user", "");
      this.partialBubble.dataset.pending = "partial";
    }
    this.partialBubble.querySelector(".text").textContent = text;
  }

  /** An utterance that did not become a turn leaves no bubble. */
  dropPartial() {
    this.partialBubble?.remove();
    this.partialBubble = null;
  }

  /** The server took a turn: its answer follows by itself, and one still playing here is over. */
  async expectServerTurn() {
    if (this.session.phase === "stopping") await this.session.stop(); // its `done` comes first
    this.session.drop();
    this.newTurn();
    this.expectAnswer("Thinking…");
  }

  // ---- server events and input ----

  listen() {
    const { ui, session, socket, player } = this;

    socket.on("conversation", (m) => {
      if (m.llm_label) ui.llmLabel.textContent = m.llm_label;
      if (typeof m.llm_hint === "string") {
        ui.llmHint.textContent = m.llm_hint;
        ui.llmHint.hidden = !m.llm_hint;
      }
      if (this.conversationId && m.conversation_id !== this.conversationId && ui.chat.children.length) {
        this.addNote("New conversation (the server does not remember the turns above).");
      }
      this.conversationId = m.conversation_id ?? null;
      this.root.dataset.conversationId = this.conversationId ?? "";
    });

    socket.on("listening", () => {
      this.setHandsFree(ui.handsFreeBox.checked); // else listen_stop is on its way
      if (this.handsFree && !session.active) {
        this.setStatus("Hands-free: just speak. A pause ends your turn; talk over the answer to interrupt it.");
      }
    });
    socket.on("speech_started", () => this.dropPartial()); // an earlier utterance was not a turn
    socket.on("partial", (m) => this.showPartial((m.text ?? "").trim()));

    socket.on("transcript", async (m) => {
      const text = (m.text ?? "").trim();
      const pushed = this.awaitingTranscript; // else a turn the server took (hands-free)
      const bubble = pushed ?? this.partialBubble ?? this.addBubble("user", "");
      this.awaitingTranscript = this.partialBubble = null;
      delete bubble.dataset.pending;
      bubble.querySelector(".text").textContent = text || "(nothing heard)";
      bubble.classList.toggle("empty", !text);
      if (!pushed) await this.expectServerTurn();
      setMs(ui.sttMs, m.stt_ms);
      this.scrollChat();
      if (text) return this.setStatus("Thinking…");
      this.setStatus("I didn't catch that: hold Talk (or Space) while you speak, close to the microphone.", "warn");
      session.abandon("nothing_heard"); // no answer is coming (one that does is still played)
    });

    socket.on("truncated", (m) => { // its stream is over: the StreamSession no longer forwards it
      const a = this.answers.get(m.session_id);
      if (a) this.showTruncated(a, m.heard_text ?? "");
    });

    socket.on("error", (m) => {
      if (m.session_id && m.session_id !== session.sessionId) return; // an old stream's
      this.setStatus(`${m.fatal ? "Error" : "Warning"}: ${m.message || m.code}`, m.fatal ? "error" : "warn");
      const bubble = this.awaitingTranscript;
      if (!m.session_id && bubble?.dataset.pending) {
        bubble.querySelector(".text").textContent = "(not understood)";
        delete bubble.dataset.pending;
        this.awaitingTranscript = null;
      }
      if (!m.session_id) session.abandon("refused"); // the turn was refused: no answer is coming
    });

    session.on("*", () => this.refreshButtons());
    session.onPhase(() => this.showAgentState());

    session.on("clear", () => { // the user barged in: the server holds the rest
      session.clearAudio();
      this.cut = true;
      this.showAgentState();
      this.setStatus("Listening… (you interrupted the answer)");
    });
    session.on("resumed", () => { // not the user after all: the audio comes again from the cut
      session.resumeAudio();
      this.cut = false;
      this.dropPartial();
      this.showAgentState();
      this.setStatus("Going on with the answer: the interruption was not a turn.");
    });

    session.on("session", (m) => {
      if (session.phase === "stopping") return; // the answer being cancelled announced itself
      this.cut = false;
      this.answerStartedAt = performance.now();
      this.answerFor(m.session_id);
      setGrowing(ui.textProgress, ui.textPct, "…"); // the status line: followPhases
    });

    session.on("llm", (m) => {
      if (!m.delta) return;
      if (session.phase === "stopping" && !this.answers.has(m.session_id)) return;
      const a = this.answerFor(m.session_id);
      a.text += m.delta;
      (a.textEl.querySelector(".unheard") ?? a.textEl).append(m.delta); // plain text, never HTML
      if (!this.firstTokenShown && m.session_id === session.sessionId && session.phase === "streaming") {
        this.firstTokenShown = true; // from the answer's start to its first word, as it arrives
        setMs(ui.llmTtft, performance.now() - this.answerStartedAt);
      }
      this.scrollChat();
    });

    session.on("progress", (m) => {
      if (m.text_done) setBar(ui.textProgress, ui.textPct, 1);
      else setGrowing(ui.textProgress, ui.textPct, `${m.text_chars ?? 0} chars`);
      if (m.tts_percent != null) { // the whole answer is in: the share of it synthesized
        this.audioShare = true;
        raiseBar(ui.audioProgress, ui.audioPct, m.tts_percent / 100);
      } else if (!this.audioShare) { // its length is unknown: the seconds synthesized so far
        this.synthMs = Math.max(this.synthMs, m.synth_ms ?? 0);
        setGrowing(ui.audioProgress, ui.audioPct, `${(this.synthMs / 1000).toFixed(1)} s`);
      }
    });

    session.on("metrics", (m) => {
      setMs(ui.ttfaServer, m.ttfa_ms);
      setMs(ui.overhead, m.overhead_ms);
    });

    session.on("done", (m) => {
      if (m.status === "completed") { // the status line says "Finishing…" (followPhases)
        this.audioShare = true;
        setBar(ui.textProgress, ui.textPct, 1);
        setBar(ui.audioProgress, ui.audioPct, 1);
      }
    });

    session.onFirstAudio = (ms) => setMs(ui.ttfa, ms);
    session.onPlaybackStart = (ms) => {
      setMs(ui.playbackStart, ms);
      this.showAgentState();
      this.phases.refresh(); // "(speaking already)" while the answer is still being written
    };

    session.onFinished = ({ status, playedMs, sessionId }) => {
      this.refreshButtons();
      this.cut = false;
      ui.underruns.textContent = String(player.underruns);
      const a = this.answers.get(sessionId);
      a?.el.classList.remove("streaming");
      if (a) a.el.dataset.playedMs = String(playedMs);
      if (status === "cancelled" || status === "stopped") a?.el.classList.add("interrupted");
      if (this.capture && !this.capture.ended) return; // the user is talking: keep "Listening…"
      const secs = (playedMs / 1000).toFixed(1);
      if (status === "completed") this.setStatus(`Done: played ${secs} s. Your turn.`, "ok");
      else if (status === "cancelled" || status === "stopped") this.setStatus(`Interrupted after ${secs} s.`);
      else if (status === "nothing_heard" || status === "refused") { /* status already says why */ }
      else if (ui.status.dataset.kind !== "error") this.setStatus(`The answer ended (${status}).`, "error");
    };

    socket.onClose((ev) => {
      if (this.capture) this.abortCapture(this.capture);
      const handsFree = ui.handsFreeBox.checked;
      if (handsFree) this.stopListening();
      if (!session.active) {
        this.setStatus(`Disconnected (${ev.code}); sending a message${handsFree ? " or Hands-free" : ""} reconnects.`, "warn");
      }
    });

    ui.talk.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      ui.talk.setPointerCapture?.(e.pointerId);
      this.talkDown("pointer");
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      ui.talk.addEventListener(type, () => this.talkUp("pointer"));
    }
    ui.talk.addEventListener("contextmenu", (e) => e.preventDefault());
    ui.talk.addEventListener("click", (e) => e.preventDefault());

    document.addEventListener("keydown", (e) => {
      if (!isSpace(e) || inField(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      e.preventDefault(); // no page scroll, no button activation
      if (!e.repeat) this.talkDown("key");
    });
    document.addEventListener("keyup", (e) => {
      if (!isSpace(e) || inField(e.target)) return;
      e.preventDefault();
      this.talkUp("key");
    });
    window.addEventListener("blur", () => this.held && this.talkUp(this.held)); // lost keyup

    ui.send.addEventListener("click", () => this.sendText());
    ui.userText.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendText();
      }
    });
    ui.stop.addEventListener("click", () => this.stopAnswer());
    ui.reset.addEventListener("click", () => this.newConversation());
    ui.handsFreeBox.addEventListener("change", () => this.toggleHandsFree());
    ui.mute.addEventListener("click", () => this.toggleMute());
  }

  // ---- init ----

  init() {
    const { ui, params } = this;
    setUpVoicePickers(ui.tts, ui.voice, params);
    for (const picker of [ui.tts, ui.voice]) { // after the pickers' own handlers
      picker.addEventListener("change", () => this.voiceChanged());
    }
    this.refreshButtons();
    this.setListening(false);
    this.setHandsFree(false);
    this.setStatus("Connecting…");
    this.ensureConnected().then((ok) => ok && !this.session.active && !this.capture && !ui.handsFreeBox.checked
      && this.setStatus("Ready: hold Talk (or Space) and speak, or type a message."));
    this.root.dataset.ready = "1";
    if (params.get("handsfree") === "1") {
      ui.handsFreeBox.checked = true;
      this.toggleHandsFree();
    }
  }
}

document.addEventListener("DOMContentLoaded", () => new VoicebotPage(document.getElementById("voicebot-app")));
