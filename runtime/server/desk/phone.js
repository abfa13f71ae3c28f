// The phone in the browser: one WebRTC connection to the server for the
// whole session (audio only, G.711 so nothing is transcoded), opened at
// login. Calls ring over the desk's event socket; answering, declining and
// hanging up go through the agent API; the audio flows over this connection.

export class BrowserPhone {
  constructor({ agent, api, audio, onState }) {
    this.agent = agent;
    this.api = api;
    this.audio = audio;
    this.onState = onState || (() => {});
    this.state = "off";
    this.pc = null;
    this.stream = null;
  }

  path(rest) {
    return `/api/agents/${encodeURIComponent(this.agent)}/phone${rest}`;
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  async start() {
    this.setState("connecting");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (error) {
      this.setState("off");
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    // The console's (and the browser tests') way to the phone's statistics.
    window.dialectPhone = this;
    for (const track of this.stream.getAudioTracks()) pc.addTrack(track, this.stream);
    pc.ontrack = (e) => {
      this.audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      this.audio.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === "connected") this.setState("connected");
      else if (s === "failed" || s === "closed" || s === "disconnected") this.setState("off");
    };
    // Only G.711: the server does not transcode.
    const transceiver = pc.getTransceivers().find((t) => t.sender && t.sender.track && t.sender.track.kind === "audio");
    if (transceiver && RTCRtpSender.getCapabilities) {
      const codecs = RTCRtpSender.getCapabilities("audio").codecs
        .filter((c) => /PCMU|PCMA|telephone-event/i.test(c.mimeType));
      if (codecs.length && transceiver.setCodecPreferences) transceiver.setCodecPreferences(codecs);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await this.api("POST", this.path(""), { sdp: pc.localDescription.sdp });
    if (r.status !== 200 || !r.body.sdp) {
      this.setState("off");
      return;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: r.body.sdp });
  }

  async answer() {
    return this.api("POST", this.path("/answer"));
  }

  close() {
    if (this.pc) this.pc.close();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.pc = null;
    this.setState("off");
  }
}
