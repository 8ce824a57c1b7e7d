// The benchmark's Node.js peer: socket.io 4 serving the subset of TaskStream's wire
// contract the scenarios use, in memory, with no durability and no rate limits.
//
//   node server.js --port 8123 --secret <the JWT secret the tokens were signed with>
//
// It speaks what the load generator speaks: GET /api/health; a Socket.IO connect with
// auth {token} (HS256, checked with the same secret and expiry); scan:join, task:submit,
// task:decide with their acks; task:created and task:updated to the scan's admins and to
// the task's worker, each with the scan's next seq. Nothing else: it is a yardstick for
// what one process of a popular real-time stack does with the same messages, not a server.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8123" },
    secret: { type: "string" },
  },
});
if (!values.secret) {
  console.error("--secret is required");
  process.exit(2);
}
const SECRET = values.secret;

function verify(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const expected = createHmac("sha256", SECRET).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  if (typeof claims.exp !== "number" || claims.exp * 1000 < Date.now()) return null;
  return { id: String(claims.sub), role: String(claims.role) };
}

function fail(code, message) {
  return { ok: false, error: { code, message } };
}

/** @type {Map<string, {seq: number, tasks: Map<string, object>}>} */
const scans = new Map();
/** @type {Map<string, object>} */
const tasks = new Map();

function scanState(id) {
  let scan = scans.get(id);
  if (!scan) {
    scan = { seq: 0, tasks: new Map() };
    scans.set(id, scan);
  }
  return scan;
}

const adminRoom = (scanId) => `a:${scanId}`;
const workerRoom = (scanId, workerId) => `w:${scanId}:${workerId}`;

const http = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/api/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", version: "node-peer", store: "memory" }));
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code: "not_found", message: "Not found." } }));
});

const io = new Server(http, { serveClient: false, transports: ["websocket", "polling"] });

io.use((socket, next) => {
  const user = verify(socket.handshake.auth?.token);
  if (!user) {
    const error = new Error("Invalid or expired token.");
    error.data = { code: "unauthorized" };
    next(error);
    return;
  }
  socket.data.user = user;
  next();
});

io.on("connection", (socket) => {
  const user = socket.data.user;
  const reply = (ack, body) => {
    if (typeof ack === "function") ack(body);
  };

  socket.on("scan:join", (payload, ack) => {
    const scanId = payload?.scan_id;
    if (typeof scanId !== "string") return reply(ack, fail("invalid_request", "scan_id"));
    const scan = scanState(scanId);
    socket.join(user.role === "admin" ? adminRoom(scanId) : workerRoom(scanId, user.id));
    const visible = [...scan.tasks.values()].filter(
      (t) => user.role === "admin" || t.worker_id === user.id,
    );
    reply(ack, { ok: true, scan: { id: scanId, status: "open" }, seq: scan.seq, tasks: visible });
  });

  socket.on("task:submit", (payload, ack) => {
    if (user.role !== "worker") return reply(ack, fail("forbidden", "Workers only."));
    const scanId = payload?.scan_id;
    const content = payload?.content;
    if (typeof scanId !== "string" || typeof content !== "string" || !content.length) {
      return reply(ack, fail("invalid_request", "scan_id and content"));
    }
    const scan = scanState(scanId);
    scan.seq += 1;
    const task = {
      id: randomUUID(),
      scan_id: scanId,
      worker_id: user.id,
      worker_username: user.id,
      content,
      status: "pending",
      reason: null,
      decided_by: null,
      created_at: new Date().toISOString(),
      decided_at: null,
      seq: scan.seq,
    };
    scan.tasks.set(task.id, task);
    tasks.set(task.id, task);
    const event = { type: "task:created", scan_id: scanId, seq: task.seq, task };
    io.to(adminRoom(scanId)).to(workerRoom(scanId, user.id)).emit("task:created", event);
    reply(ack, { ok: true, task });
  });

  socket.on("task:decide", (payload, ack) => {
    if (user.role !== "admin") return reply(ack, fail("forbidden", "Admins only."));
    const task = tasks.get(payload?.task_id);
    if (!task) return reply(ack, fail("not_found", "No such task."));
    const decision = payload?.decision;
    if (decision !== "validated" && decision !== "refused") {
      return reply(ack, fail("invalid_request", "decision"));
    }
    if (task.status !== "pending") return reply(ack, { ...fail("already_decided", "Decided."), task });
    const scan = scanState(task.scan_id);
    scan.seq += 1;
    Object.assign(task, {
      status: decision,
      reason: typeof payload.reason === "string" ? payload.reason : null,
      decided_by: user.id,
      decided_at: new Date().toISOString(),
      seq: scan.seq,
    });
    const event = { type: "task:updated", scan_id: task.scan_id, seq: task.seq, task };
    io.to(adminRoom(task.scan_id)).to(workerRoom(task.scan_id, task.worker_id)).emit("task:updated", event);
    reply(ack, { ok: true, task });
  });
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}

http.listen(Number(values.port), values.host, () => {
  console.log(`node peer listening on http://${values.host}:${values.port}`);
});
