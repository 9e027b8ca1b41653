/**
 * mic.js: microphone capture for the voicebot: PCM s16le mono 16 kHz frames of ~100 ms and
 * a level meter. Whether a frame is a push-to-talk turn or hands-free listening is the
 * page's business: here there is one gate, open or closed.
 *
 *   const mic = new MicCapture({ context });  // optional shared AudioContext (any rate)
 *   await mic.open();                          // asks for the microphone
 *   mic.onFrame = (arrayBuffer) => {};         // audio, only while the gate is open
 *   mic.onLevel = (rms) => {};                 // 0..1, about 20 times a second
 *   mic.start({ preRollMs });                  // open the gate (with what came just before)
 *   await mic.flush();                         // the frame so far, now (the gate stays open)
 *   await mic.stop();                          // close the gate, after its last frame
 *   mic.close();
 *
 * The work happens in an AudioWorklet at the context's native rate (Firefox refuses a
 * 16 kHz context on a microphone): low-pass, area-averaging decimation to 16 kHz, Int16.
 */

export const MIC_RATE = 16000;

const WORKLET = String.raw`
const OUT_RATE = 16000, FRAME = 1600, LEVEL_EVERY = 800, RING = 16000;

// RBJ biquad low-pass; two in a row with these Qs make a 4th-order Butterworth.
function lowpass(rate, cutoff, q) {
  const w = 2 * Math.PI * cutoff / rate, cos = Math.cos(w), alpha = Math.sin(w) / (2 * q);
  const a0 = 1 + alpha;
  return { b0: (1 - cos) / 2 / a0, b1: (1 - cos) / a0, b2: (1 - cos) / 2 / a0,
           a1: -2 * cos / a0, a2: (1 - alpha) / a0, z1: 0, z2: 0 };
}

class MicCaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / OUT_RATE; // input samples per output sample (2.75625 at 44.1 kHz)
    this.filters = this.ratio > 1.01 ? [lowpass(sampleRate, 7000, 0.5412), lowpass(sampleRate, 7000, 1.3066)] : [];
    this.acc = 0; this.accW = 0; // the output sample being averaged, and its weight so far
    this.ring = new Int16Array(RING); this.ringPos = 0; this.produced = 0; // last second
    this.frame = new Int16Array(FRAME); this.fpos = 0;
    this.gate = false; this.alive = true;
    this.levelSum = 0; this.levelN = 0;
    this.port.onmessage = (e) => this.command(e.data);
  }

  command(m) {
    if (m.open && !this.gate) this.open(m.preRollMs || 0);
    if (m.flush !== undefined) { // the frame so far goes now; then maybe close the gate
      this.flush();
      if (m.close) this.gate = false;
      this.port.postMessage({ flushed: m.flush });
    }
    if (m.shutdown) this.alive = false;
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (ch) for (let i = 0; i < ch.length; i++) this.input(ch[i]);
    return this.alive;
  }

  input(x) {
    for (const f of this.filters) {
      const y = f.b0 * x + f.z1;
      f.z1 = f.b1 * x - f.a1 * y + f.z2;
      f.z2 = f.b2 * x - f.a2 * y;
      x = y;
    }
    // Each output sample is the mean of the input over its 1/16000 s window (fractional edges).
    let w = 1;
    while (w > 1e-9) {
      const need = this.ratio - this.accW;
      if (w < need) { this.acc += x * w; this.accW += w; return; }
      this.acc += x * need;
      w -= need;
      this.output(this.acc / this.ratio);
      this.acc = 0; this.accW = 0;
    }
  }

  output(y) {
    const s = Math.max(-32768, Math.min(32767, Math.round(y * 32768)));
    this.ring[this.ringPos] = s;
    this.ringPos = (this.ringPos + 1) % RING;
    this.produced++;
    if (this.gate) this.push(s);
    this.levelSum += y * y;
    if (++this.levelN === LEVEL_EVERY) {
      this.port.postMessage({ level: Math.sqrt(this.levelSum / LEVEL_EVERY) });
      this.levelSum = this.levelN = 0;
    }
  }

  push(s) { this.frame[this.fpos++] = s; if (this.fpos === FRAME) this.flush(); }

  flush() {
    if (!this.fpos) return;
    const buf = this.frame.slice(0, this.fpos).buffer;
    this.fpos = 0;
    this.port.postMessage({ frame: buf }, [buf]);
  }

  open(backMs) {
    this.gate = true;
    this.fpos = 0;
    const n = Math.min(Math.round(backMs * 16), this.produced, RING);
    for (let k = n; k > 0; k--) this.push(this.ring[(this.ringPos - k + RING) % RING]);
  }
}

registerProcessor("mic-capture", MicCaptureProcessor);
`;

export class MicCapture {
  /** @param {{context?: AudioContext}} opts */
  constructor({ context = null } = {}) {
    this.ctx = context;
    this.sampleRate = MIC_RATE;
    // Callbacks as in the header, plus onEnded: the microphone went away (unplugged, revoked).
    this.onFrame = this.onLevel = this.onEnded = null;
    this.stream = this.source = this.node = this._opening = null;
    this._ownContext = false;
    this._flushes = new Map(); // id -> resolve of flush() / stop()
    this._flushId = 0;
    this._worklet = this._workletCtx = null; // the worklet module loading into this context
  }

  get isOpen() { return !!this.node; }

  /** Ask for the microphone and start the worklet (no-op if open). Resolves to this. */
  open() {
    if (this.node) return Promise.resolve(this);
    return (this._opening ??= this._open().finally(() => { this._opening = null; }));
  }

  async _open() {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error("microphone capture needs a secure page (HTTPS or localhost)");
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    try {
      if (!this.ctx || this.ctx.state === "closed") {
        this.ctx = new (globalThis.AudioContext || globalThis.webkitAudioContext)(); // native rate
        this._ownContext = true;
      }
      const ctx = this.ctx;
      if (ctx.state !== "running") ctx.resume().catch(() => {});
      await this._loadWorklet(ctx);
      this.source = ctx.createMediaStreamSource(stream);
      this.node = new AudioWorkletNode(ctx, "mic-capture", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        channelCount: 1, channelCountMode: "explicit", channelInterpretation: "speakers",
      });
      this.node.port.onmessage = (e) => this._onMessage(e.data);
      this.source.connect(this.node);
      this.node.connect(ctx.destination); // outputs silence; keeps the node pulled everywhere
      this.stream = stream;
      for (const track of stream.getAudioTracks()) track.onended = () => this._ended();
      return this;
    } catch (e) {
      for (const track of stream.getTracks()) track.stop();
      throw e;
    }
  }

  /** Add the worklet module to `ctx` once (a processor's name registers once per context). */
  _loadWorklet(ctx) {
    if (this._workletCtx !== ctx) {
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
      this._workletCtx = ctx;
      this._worklet = ctx.audioWorklet.addModule(url).finally(() => URL.revokeObjectURL(url));
      this._worklet.catch(() => { this._workletCtx = null; }); // retry next time
    }
    return this._worklet;
  }

  _onMessage(m) {
    if (m.frame) this.onFrame?.(m.frame);
    else if (m.level !== undefined) this.onLevel?.(m.level);
    else if (this._flushes.has(m.flushed)) {
      this._flushes.get(m.flushed)();
      this._flushes.delete(m.flushed);
    }
  }

  /** Open the gate: frames from now, plus `preRollMs` of what came just before (if it was closed). */
  start({ preRollMs = 0 } = {}) {
    this.node?.port.postMessage({ open: true, preRollMs });
  }

  /** Send the frame so far now; resolves once it has gone to onFrame (the gate stays open). */
  flush() { return this._flush(false); }

  /** Close the gate; resolves once its last frame has gone to onFrame. */
  stop() { return this._flush(true); }

  _flush(close) {
    if (!this.node) return Promise.resolve();
    const id = ++this._flushId;
    return new Promise((resolve) => {
      this._flushes.set(id, resolve);
      this.node.port.postMessage({ flush: id, close });
    });
  }

  _ended() { this.close(); this.onEnded?.(); }

  /** Release the microphone (a shared AudioContext stays open). */
  close() {
    if (this.node) {
      this.node.port.postMessage({ shutdown: true });
      this.node.port.onmessage = null;
      try { this.source.disconnect(); this.node.disconnect(); } catch { /* already */ }
    }
    for (const track of this.stream?.getTracks() ?? []) { track.onended = null; track.stop(); }
    for (const resolve of this._flushes.values()) resolve();
    this._flushes.clear();
    if (this._ownContext) {
      this.ctx?.close().catch(() => {});
      this.ctx = null;
      this._ownContext = false;
    }
    this.stream = this.source = this.node = null;
  }
}
