import Foundation
import HTTPTypes

// MARK: State

struct FlyFakeMachine: Sendable {
    var id: String
    var name: String
    var region: String
    var config: JSONValue
    var state: String
    /// `/wait` seconds still needed before `starting` becomes `started`.
    var pendingStartSeconds: Int
    var instanceID: String
    var createdAt: String
    var updatedAt: String
}

struct FlyFakeIP: Sendable {
    var ip: String
    var type: String
    var region: String
    var createdAt: String
}

struct FlyFakeApp: Sendable {
    var id: String
    var name: String
    var organization: String
    var machineOrder: [String] = []
    var machines: [String: FlyFakeMachine] = [:]
    var secrets: [String: String] = [:]
    var secretsVersion = 0
    var ips: [FlyFakeIP] = []

    init(id: String, name: String, organization: String) {
        self.id = id
        self.name = name
        self.organization = organization
    }
}

struct FlyFakeFault: Sendable {
    var fault: FakeFly.Fault
    var remaining: Int
    var pattern: String?
}

struct FlyFakeState: Sendable {
    var counter = 0
    var apps: [String: FlyFakeApp] = [:]
    var reservedNames: Set<String> = []
    var startDelaySeconds = 0
    var exhaustedRegions: Set<String> = []
    var previewStatusOverride: Int?
    var faults: [FlyFakeFault] = []
    var requests: [FakeFly.RecordedRequest] = []
    var previewRequests: [FakeFly.PreviewRequest] = []
    var violations: [ContractViolation] = []
    var unauthorized = 0

    mutating func nextID() -> String {
        counter += 1
        // Fly machine ids are 14 hex digits.
        return String(format: "%014llx", 0x1781_0000_0000 + UInt64(counter))
    }

    mutating func nextNumber() -> Int {
        counter += 1
        return counter
    }
}

/// A finished answer of the fake.
struct FlyFakeAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var bytes: Data
}

/// A handler's answer before headers are added.
private struct FlyReply {
    var status: Int
    var body: JSONValue?
    var headers: HTTPHeaders = HTTPHeaders()

    static func error(_ status: Int, _ message: String, code: String? = nil) -> FlyReply {
        var body: [String: JSONValue] = ["error": .string(message)]
        if let code { body["status"] = .string(code) }
        return FlyReply(status: status, body: .object(body))
    }

    static func ok(_ body: JSONValue, status: Int = 200) -> FlyReply { FlyReply(status: status, body: body) }
}

private struct FlyContext {
    var request: HTTPRequest
    var parameters: [String: String]
    var body: JSONValue

    var app: String { parameters["app_name"] ?? "" }
    var machineID: String { parameters["machine_id"] ?? "" }
}

private let timestamp = "2026-01-01T00:00:00Z"

// MARK: Dispatch

extension FakeFly {
    /// Answers an API request; `nil` means an injected connection failure.
    func respond(to original: HTTPRequest) -> FlyFakeAnswer? {
        var request = original
        guard request.path == "/v1" || request.path.hasPrefix("/v1/") else {
            let violation = ContractViolation(operation: "\(request.method) \(request.path)", location: "path", message: "outside the API root /v1")
            state.withLock { $0.violations.append(violation) }
            return finish(request, operation: nil, reply: .error(404, "not found"))
        }
        request.path = String(request.path.dropFirst(3))

        let check = contract.validateRequest(method: request.method.rawValue, path: request.path, query: request.query, body: request.body)
        let operation = check.operation?.key
        var violations = check.violations
        if !request.body.isEmpty, request.headers["Content-Type"]?.lowercased().hasPrefix("application/json") != true {
            violations.append(ContractViolation(
                operation: operation ?? request.path, location: "header.Content-Type", message: "a JSON body needs Content-Type application/json"))
        }
        let fault = state.withLock { state -> Fault? in
            state.violations += violations
            let line = "\(request.method.rawValue) \(request.path)"
            guard let index = state.faults.firstIndex(where: { fault in
                fault.remaining > 0 && (fault.pattern == nil || fault.pattern == operation || line.hasPrefix(fault.pattern!))
            }) else { return nil }
            state.faults[index].remaining -= 1
            let fault = state.faults[index].fault
            if state.faults[index].remaining == 0 { state.faults.remove(at: index) }
            return fault
        }

        guard request.headers["Authorization"] == "Bearer \(token)" else {
            state.withLock { $0.unauthorized += 1 }
            return finish(request, operation: operation, reply: .error(401, "unauthorized"))
        }

        if let fault {
            switch fault {
            case .connectionFailure:
                record(request, operation: operation, status: 0)
                return nil
            case .status(let status):
                return finish(request, operation: operation, reply: .error(status, status >= 500 ? "internal server error (injected)" : "injected failure"))
            case .rateLimited(let retryAfter):
                var reply = FlyReply.error(429, "rate limit exceeded")
                if let retryAfter { reply.headers["Retry-After"] = String(retryAfter) }
                return finish(request, operation: operation, reply: reply)
            }
        }

        guard let operation else { return finish(request, operation: nil, reply: .error(404, "not found")) }
        let body = (request.body.isEmpty ? nil : try? JSONValue(parsing: request.body)) ?? .object([:])
        let context = FlyContext(request: request, parameters: check.pathParameters, body: body)
        let reply = dispatch(operation, context)
        if (200..<300).contains(reply.status), let documented = check.operation, let replyBody = reply.body {
            let answerViolations = contract.validateResponse(documented, status: reply.status, body: replyBody.encoded())
            if !answerViolations.isEmpty { state.withLock { $0.violations += answerViolations } }
        }
        return finish(request, operation: operation, reply: reply)
    }

    private func finish(_ request: HTTPRequest, operation: String?, reply: FlyReply) -> FlyFakeAnswer {
        var headers = reply.headers
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers["fly-request-id"] = "01FAKE\(state.withLock { $0.nextNumber() })-iad"
        record(request, operation: operation, status: reply.status)
        return FlyFakeAnswer(status: reply.status, headers: headers, bytes: reply.body?.encoded() ?? Data())
    }

    private func record(_ request: HTTPRequest, operation: String?, status: Int) {
        let recorded = RecordedRequest(
            method: request.method, path: request.path, query: request.query, headers: request.headers, body: request.body,
            operation: operation, status: status)
        state.withLock { $0.requests.append(recorded) }
    }

    private func dispatch(_ operation: String, _ context: FlyContext) -> FlyReply {
        switch operation {
        case "POST /apps": return createApp(context)
        case "GET /apps/{app_name}": return getApp(context)
        case "DELETE /apps/{app_name}": return deleteApp(context)
        case "GET /apps/{app_name}/ip_assignments": return listIPs(context)
        case "POST /apps/{app_name}/ip_assignments": return assignIP(context)
        case "DELETE /apps/{app_name}/ip_assignments/{ip}": return releaseIP(context)
        case "GET /apps/{app_name}/secrets": return listSecrets(context)
        case "POST /apps/{app_name}/secrets": return updateSecrets(context)
        case "GET /apps/{app_name}/machines": return listMachines(context)
        case "POST /apps/{app_name}/machines": return createMachine(context)
        case "GET /apps/{app_name}/machines/{machine_id}": return getMachine(context)
        case "POST /apps/{app_name}/machines/{machine_id}": return updateMachine(context)
        case "DELETE /apps/{app_name}/machines/{machine_id}": return deleteMachine(context)
        case "POST /apps/{app_name}/machines/{machine_id}/start": return startMachine(context)
        case "POST /apps/{app_name}/machines/{machine_id}/stop": return stopMachine(context)
        case "GET /apps/{app_name}/machines/{machine_id}/wait": return waitForMachine(context)
        default: return .error(501, "the fake does not implement \(operation)")
        }
    }

    // MARK: Apps

    /// Runs `body` on an app of ours; apps of other organizations and missing ones are 404 alike.
    private func withApp(_ name: String, _ body: (inout FlyFakeApp, inout FlyFakeState) -> FlyReply) -> FlyReply {
        state.withLock { state in
            guard var app = state.apps[name] else { return .error(404, "app not found") }
            let reply = body(&app, &state)
            state.apps[name] = app
            return reply
        }
    }

    private func createApp(_ context: FlyContext) -> FlyReply {
        guard let name = context.body["app_name"]?.stringValue, !name.isEmpty else { return .error(400, "app_name is required") }
        let validName = name.count <= 63 && !name.hasPrefix("-") && !name.hasSuffix("-")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard validName else { return .error(400, "Name may only contain lowercase letters, numbers and dashes") }
        let org = context.body["org_slug"]?.stringValue ?? organization
        return state.withLock { state in
            if state.reservedNames.contains(name) || state.apps[name] != nil {
                return .error(422, "Name has already been taken", code: "name_taken")
            }
            let app = FlyFakeApp(id: state.nextID(), name: name, organization: org)
            state.apps[name] = app
            return .ok(["id": .string(app.id), "created_at": 1_767_225_600_000], status: 201)
        }
    }

    private func getApp(_ context: FlyContext) -> FlyReply {
        withApp(context.app) { app, _ in
            .ok([
                "id": .string(app.id), "name": .string(app.name), "status": "deployed",
                "organization": ["name": .string(app.organization), "slug": .string(app.organization)],
            ])
        }
    }

    private func deleteApp(_ context: FlyContext) -> FlyReply {
        state.withLock { state in
            guard state.apps.removeValue(forKey: context.app) != nil else { return .error(404, "app not found") }
            return FlyReply(status: 202, body: nil)
        }
    }

    // MARK: IP addresses

    private func listIPs(_ context: FlyContext) -> FlyReply {
        withApp(context.app) { app, _ in .ok(["ips": .array(app.ips.map(Self.json))]) }
    }

    private func assignIP(_ context: FlyContext) -> FlyReply {
        guard let type = context.body["type"]?.stringValue else { return .error(400, "type is required") }
        return withApp(context.app) { app, state in
            let number = state.nextNumber()
            let address: String
            switch type {
            case "shared_v4": address = "66.241.125.\(number % 250 + 1)"
            case "v4": address = "137.66.\(number / 250 % 250).\(number % 250 + 1)"
            case "v6": address = "2a09:8280:1::\(String(number, radix: 16))"
            case "private_v6": address = "fdaa:0:1::\(String(number, radix: 16))"
            default: return .error(400, "unsupported IP type \(type)")
            }
            let ip = FlyFakeIP(ip: address, type: type, region: context.body["region"]?.stringValue ?? "global", createdAt: timestamp)
            app.ips.append(ip)
            return .ok(Self.json(ip))
        }
    }

    private func releaseIP(_ context: FlyContext) -> FlyReply {
        withApp(context.app) { app, _ in
            guard let index = app.ips.firstIndex(where: { $0.ip == context.parameters["ip"] }) else { return .error(404, "ip not found") }
            app.ips.remove(at: index)
            return FlyReply(status: 204, body: nil)
        }
    }

    private static func json(_ ip: FlyFakeIP) -> JSONValue {
        ["ip": .string(ip.ip), "region": .string(ip.region), "shared": .bool(ip.type == "shared_v4"), "service_name": "", "created_at": .string(ip.createdAt)]
    }

    // MARK: Secrets

    private func listSecrets(_ context: FlyContext) -> FlyReply {
        withApp(context.app) { app, _ in .ok(["secrets": .array(app.secrets.keys.sorted().map { Self.secretJSON($0, app.secrets[$0] ?? "") })]) }
    }

    private func updateSecrets(_ context: FlyContext) -> FlyReply {
        guard let values = context.body["values"]?.objectValue else { return .error(400, "values is required") }
        return withApp(context.app) { app, _ in
            for (name, value) in values {
                if let text = value.stringValue { app.secrets[name] = text } else { app.secrets.removeValue(forKey: name) }
            }
            app.secretsVersion += 1
            return .ok([
                "secrets": .array(app.secrets.keys.sorted().map { Self.secretJSON($0, app.secrets[$0] ?? "") }),
                "version": .integer(Int64(app.secretsVersion)),
            ])
        }
    }

    private static func secretJSON(_ name: String, _ value: String) -> JSONValue {
        // A digest, never the value: Fly hands values only to the app's machines.
        ["name": .string(name), "digest": .string(String(format: "%08x", value.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 })),
         "created_at": .string(timestamp), "updated_at": .string(timestamp)]
    }

    // MARK: Machines

    private func listMachines(_ context: FlyContext) -> FlyReply {
        withApp(context.app) { app, _ in
            .ok(.array(app.machineOrder.compactMap { app.machines[$0] }.filter { $0.state != "destroyed" }.map(Self.json)))
        }
    }

    private func createMachine(_ context: FlyContext) -> FlyReply {
        let region = context.body["region"]?.stringValue ?? "iad"
        guard let config = context.body["config"], config["image"]?.stringValue?.isEmpty == false else {
            return .error(400, "invalid config.image: an image is required")
        }
        return withApp(context.app) { app, state in
            if state.exhaustedRegions.contains(region) {
                return .error(422, "insufficient resources available to fulfill request", code: "insufficient_capacity")
            }
            let id = state.nextID()
            let delay = state.startDelaySeconds
            var machine = FlyFakeMachine(
                id: id, name: context.body["name"]?.stringValue ?? "machine-\(id)", region: region, config: config,
                state: delay == 0 ? "started" : "starting", pendingStartSeconds: delay, instanceID: "01INSTANCE\(state.nextNumber())",
                createdAt: timestamp, updatedAt: timestamp)
            if context.body["skip_launch"]?.boolValue == true { machine.state = "created" }
            app.machines[id] = machine
            app.machineOrder.append(id)
            var answer = machine
            answer.state = "created"
            return .ok(Self.json(answer))
        }
    }

    private func withMachine(_ context: FlyContext, _ body: (inout FlyFakeMachine, inout FlyFakeState) -> FlyReply) -> FlyReply {
        withApp(context.app) { app, state in
            guard var machine = app.machines[context.machineID], machine.state != "destroyed" else { return .error(404, "machine not found") }
            let reply = body(&machine, &state)
            app.machines[context.machineID] = machine
            return reply
        }
    }

    private func getMachine(_ context: FlyContext) -> FlyReply {
        withMachine(context) { machine, _ in .ok(Self.json(machine)) }
    }

    private func updateMachine(_ context: FlyContext) -> FlyReply {
        guard let config = context.body["config"], config["image"]?.stringValue?.isEmpty == false else {
            return .error(400, "invalid config.image: an image is required")
        }
        return withMachine(context) { machine, state in
            machine.config = config
            machine.instanceID = "01INSTANCE\(state.nextNumber())"
            Self.launch(&machine, delay: state.startDelaySeconds)
            return .ok(Self.json(machine))
        }
    }

    private func startMachine(_ context: FlyContext) -> FlyReply {
        withMachine(context) { machine, state in
            if machine.state != "started" { Self.launch(&machine, delay: state.startDelaySeconds) }
            return .ok(["ok": true])
        }
    }

    private func stopMachine(_ context: FlyContext) -> FlyReply {
        withMachine(context) { machine, _ in
            machine.state = "stopped"
            machine.pendingStartSeconds = 0
            return .ok(["ok": true])
        }
    }

    private func deleteMachine(_ context: FlyContext) -> FlyReply {
        let force = context.request.queryValue("force") == "true"
        return withMachine(context) { machine, _ in
            if !force, machine.state == "started" || machine.state == "starting" {
                return .error(412, "failed_precondition: unable to destroy machine, not currently stopped, suspended or failed")
            }
            machine.state = "destroyed"
            return .ok(["ok": true])
        }
    }

    /// `/wait`: time passes only here, in the `timeout` the caller is prepared to wait.
    private func waitForMachine(_ context: FlyContext) -> FlyReply {
        let wanted = context.request.queryValue("state") ?? "started"
        let timeout = context.request.queryValue("timeout").flatMap(Int.init) ?? 60
        return withMachine(context) { machine, _ in
            if wanted == "started", machine.state == "starting" {
                if machine.pendingStartSeconds <= timeout {
                    machine.state = "started"
                    machine.pendingStartSeconds = 0
                } else {
                    machine.pendingStartSeconds -= timeout
                }
            }
            guard machine.state == wanted else {
                return .error(408, "deadline_exceeded: machine \(machine.id) did not reach state \(wanted) within \(timeout)s (current state \(machine.state))")
            }
            return .ok(["ok": true])
        }
    }

    private static func launch(_ machine: inout FlyFakeMachine, delay: Int) {
        machine.state = delay == 0 ? "started" : "starting"
        machine.pendingStartSeconds = delay
        machine.updatedAt = timestamp
    }

    private static func json(_ machine: FlyFakeMachine) -> JSONValue {
        let image = machine.config["image"]?.stringValue ?? ""
        let repository = image.split(separator: ":").first.map(String.init) ?? image
        let tag = image.split(separator: ":").dropFirst().first.map(String.init) ?? "latest"
        return [
            "id": .string(machine.id), "name": .string(machine.name), "state": .string(machine.state),
            "region": .string(machine.region), "instance_id": .string(machine.instanceID),
            "private_ip": .string("fdaa:0:1:a7b:1::\(machine.id.suffix(4))"), "config": machine.config,
            "image_ref": ["registry": "docker-hub-mirror.fly.io", "repository": .string(repository), "tag": .string(tag), "digest": "sha256:fake", "labels": [:]],
            "created_at": .string(machine.createdAt), "updated_at": .string(machine.updatedAt), "events": [],
        ]
    }

    // MARK: Preview apps

    /// What `https://<app>.fly.dev` answers: 200 while the app has a started machine, else Fly's proxy error.
    func preview(app: String, path: String, headers: HTTPHeaders) -> FlyFakeAnswer {
        let status = state.withLock { state -> Int in
            let started = state.apps[app]?.machines.values.contains { $0.state == "started" } ?? false
            let status = state.previewStatusOverride ?? (started ? 200 : 503)
            state.previewRequests.append(PreviewRequest(app: app, path: path.isEmpty ? "/" : path, headers: headers, status: status))
            return status
        }
        let text = status == 200 ? "preview \(app) is up\n" : "no machine of \(app) is running\n"
        return FlyFakeAnswer(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], bytes: Data(text.utf8))
    }
}
