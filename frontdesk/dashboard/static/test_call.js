// The "Test call" page: the microphone to the agent over WebRTC, the agent's voice back.
// The offer is sent once every ICE candidate is in it (no trickle), to this server only.
(function () {
  var box = document.getElementById("test-call");
  if (!box) { return; }
  var csrf = box.getAttribute("data-csrf");
  var startBtn = document.getElementById("call-start");
  var endBtn = document.getElementById("call-end");
  var status = document.getElementById("call-status");
  var audio = document.getElementById("call-audio");
  var pc = null;
  var callId = null;

  function say(text) { status.textContent = text; }

  function post(path, fields) {
    var body = new URLSearchParams(fields);
    body.set("csrf", csrf);
    return fetch(path, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { j.status = r.status; return j; }); });
  }

  function gathered(peer) {
    if (peer.iceGatheringState === "complete") { return Promise.resolve(); }
    return new Promise(function (resolve) {
      peer.addEventListener("icegatheringstatechange", function () {
        if (peer.iceGatheringState === "complete") { resolve(); }
      });
      setTimeout(resolve, 3000);
    });
  }

  function stop(text) {
    if (pc) { pc.close(); pc = null; }
    startBtn.disabled = false;
    endBtn.disabled = true;
    say(text);
  }

  startBtn.addEventListener("click", function () {
    startBtn.disabled = true;
    say("Asking for the microphone…");
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      pc = new RTCPeerConnection();
      window.frontdeskCall = pc;  // for tests and debugging
      stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
      pc.addEventListener("track", function (ev) {
        audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      });
      pc.addEventListener("connectionstatechange", function () {
        if (!pc) { return; }
        if (pc.connectionState === "connected") { say("Connected: speak now."); endBtn.disabled = false; }
        if (pc.connectionState === "failed") { stop("The connection failed."); }
        if (pc.connectionState === "closed" || pc.connectionState === "disconnected") { stop("Call ended."); }
      });
      return pc.createOffer()
        .then(function (offer) { return pc.setLocalDescription(offer); })
        .then(function () { return gathered(pc); })
        .then(function () { say("Calling…"); return post("/test-call/offer", { sdp: pc.localDescription.sdp }); })
        .then(function (answer) {
          if (answer.status !== 200) { throw new Error(answer.error || "refused"); }
          callId = answer.call_id;
          box.setAttribute("data-call-id", callId);
          return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
        });
    }).catch(function (err) { stop("Could not start the call: " + err.message); });
  });

  endBtn.addEventListener("click", function () {
    var id = callId;
    stop("Call ended.");
    if (id) { post("/test-call/hangup", { call_id: id }); }
  });
})();
