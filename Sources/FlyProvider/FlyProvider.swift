import Foundation
import HTTPTypes
import PreviewModel
import PreviewdLogging

/// Keys of the values ``FlyProvider`` keeps in an ``Allocation``.
public enum FlyAllocationKey {
    public static let app = "app"
    public static let organization = "org"
    public static let region = "region"
    public static let machine = "machine"
    public static let cpuKind = "cpu_kind"
    public static let cpus = "cpus"
    public static let memoryMB = "memory_mb"
    public static let autostop = "autostop"
    /// Plain environment as a JSON object (never secrets: those are Fly app secrets).
    public static let environment = "env"
    /// Names of the app secrets `configure` set, comma-separated, so a later run can unset removed ones.
    public static let secretNames = "secret_names"
    /// Fingerprint of Fly's digests of the app secrets `configure` set (never of the values themselves).
    public static let secretsFingerprint = "secrets_fingerprint"
    public static let previewURL = "url"
    public static let image = "image"
}

/// Runs previews on Fly.io Machines: one Fly app per preview, one machine in it.
///
/// `allocate` creates (or reuses) the app and its public addresses, `configure` sets app secrets and records size,
/// auto-stop policy and environment, `boot` creates or updates the machine, waits for `started` and checks the
/// public URL, `destroy` removes machines and app. Every step converges: running it again finds what an earlier
/// run made instead of making a second app or machine.
public struct FlyProvider: PreviewProvider {
    public let name = "fly"
    public let configuration: Configuration
    let client: FlyAPIClient
    let transport: any HTTPTransport
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void

    /// Creates the provider.
    /// - Parameters:
    ///   - transport: previewd's HTTP client; it also carries the health check to the preview URL.
    ///   - sleep: how to wait for backoffs and health-check pauses; tests record instead of waiting.
    public init(
        configuration: Configuration, transport: any HTTPTransport, logger: Logger = Logger(sink: .discard),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.configuration = configuration
        self.transport = transport
        self.logger = logger.with(["provider": "fly"])
        self.sleep = sleep
        self.client = FlyAPIClient(configuration: configuration, transport: transport, logger: self.logger, sleep: sleep)
    }

    // MARK: allocate

    public func allocate(_ identity: PreviewIdentity, plan: PreviewPlan, existing: Allocation?, log: any StepLogger) async throws -> Allocation {
        try await reportingProviderErrors {
            let previous = existing?.provider == name ? existing?.values ?? [:] : [:]
            var candidates: [String] = []
            if let app = previous[FlyAllocationKey.app], FlyAppName.isValid(app) { candidates.append(app) }
            for attempt in 0..<max(configuration.maxNameAttempts, 1) {
                let candidate = FlyAppName.make(for: identity, attempt: attempt)
                if !candidates.contains(candidate) { candidates.append(candidate) }
            }
            var chosen: String?
            for candidate in candidates {
                switch try await claimApp(candidate) {
                case .created:
                    await log.log("Created Fly app \(candidate) in organization \(configuration.org)", stream: .system)
                    chosen = candidate
                case .reused:
                    await log.log("Reusing Fly app \(candidate)", stream: .system)
                    chosen = candidate
                case .taken:
                    await log.log("Fly app name \(candidate) is taken outside this organization; trying another", stream: .system)
                }
                if chosen != nil { break }
            }
            guard let app = chosen else { throw FlyError.appNamesUnavailable(tried: candidates) }
            try await ensurePublicAddresses(app: app, log: log)

            var values = previous[FlyAllocationKey.app] == app ? previous : [:]
            values[FlyAllocationKey.app] = app
            values[FlyAllocationKey.organization] = configuration.org
            values[FlyAllocationKey.region] = plan.region ?? configuration.defaultRegion
            values[FlyAllocationKey.previewURL] = configuration.previewURL(app: app)
            logger.info("Fly app allocated", ["fly.app": app, "session.id": identity.sessionID.uuidString])
            return Allocation(provider: name, values: values)
        }
    }

    enum Claim { case created, reused, taken }

    /// Makes `app` ours: reuses it when we can see it, creates it when nobody has it.
    func claimApp(_ app: String) async throws -> Claim {
        if try await isOurApp(app) { return .reused }
        let call = "create app \(app)"
        let response = try await client.send(
            call, .post, "/apps", body: FlyAPIClient.encode(CreateAppBody(app_name: app, org_slug: configuration.org)),
            accepting: [409, 422])
        guard response.status == 409 || response.status == 422 else { return .created }
        let error = response.errorBody
        let nameTaken = error?.status == "name_taken" || (error?.error ?? "").localizedCaseInsensitiveContains("already been taken")
        guard nameTaken else {
            throw FlyError.requestFailed(call: call, status: response.status, message: error?.error.map(client.redact), code: error?.status, requestID: response.requestID)
        }
        // A create whose answer was lost and then retried reports our own app as taken.
        return try await isOurApp(app) ? .reused : .taken
    }

    /// Whether `app` exists and belongs to our organization.
    ///
    /// Fly shows `personal` as the user's real organization slug, so with `FLY_ORG=personal` any app the token
    /// can see counts as ours; apps of other organizations are invisible (404) to a token scoped to one.
    func isOurApp(_ app: String) async throws -> Bool {
        let call = "get app \(app)"
        let response = try await client.send(call, .get, "/apps/\(FlyAPIClient.segment(app))", accepting: [404])
        guard response.status == 200 else { return false }
        let found = try client.decode(FlyApp.self, from: response, call: call)
        guard configuration.org != Configuration.defaultOrganization else { return true }
        return found.organization?.slug == configuration.org
    }

    /// A shared IPv4 and a dedicated IPv6 address, so `<app>.fly.dev` routes to the machine.
    func ensurePublicAddresses(app: String, log: any StepLogger) async throws {
        let path = "/apps/\(FlyAPIClient.segment(app))/ip_assignments"
        let call = "list IP addresses of app \(app)"
        let list = try client.decode(IPAssignmentList.self, from: try await client.send(call, .get, path), call: call).ips ?? []
        let hasSharedV4 = list.contains { $0.shared == true && !($0.ip ?? "").contains(":") }
        let hasPublicV6 = list.contains { ($0.ip ?? "").contains(":") && !($0.ip ?? "").hasPrefix("fdaa:") }
        for (type, present) in [("shared_v4", hasSharedV4), ("v6", hasPublicV6)] where !present {
            _ = try await client.send("assign \(type) address to app \(app)", .post, path, body: FlyAPIClient.encode(AssignIPBody(type: type)))
            await log.log("Assigned a \(type) address to \(app)", stream: .system)
        }
    }

    // MARK: configure

    public func configure(
        _ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, environment: RuntimeEnvironment, log: any StepLogger
    ) async throws -> Allocation {
        try await reportingProviderErrors {
            let app = try requireApp(allocation, step: "allocate")
            var values = allocation.values

            let size = try FlyGuestSize.normalized(plan.size)
            if size.memoryMB != plan.size.memoryMB {
                await log.log("Memory rounded from \(plan.size.memoryMB) MB to \(size.memoryMB) MB (Fly sizes go in 256 MB steps)", stream: .system)
            }
            guard let autostop = FlyAutostop(rawValue: plan.autoStop.lowercased()) else {
                throw FlyError.invalidInput("auto-stop '\(plan.autoStop)' is not one of off, stop, suspend")
            }

            let previousSecrets = Set((values[FlyAllocationKey.secretNames] ?? "").split(separator: ",").map(String.init))
            var update: [String: String?] = environment.secrets.mapValues { Optional($0) }
            for removed in previousSecrets.subtracting(environment.secrets.keys) {
                update.updateValue(nil, forKey: removed)
            }
            if !update.isEmpty {
                let response = try await client.send(
                    "set secrets of app \(app)", .post, "/apps/\(FlyAPIClient.segment(app))/secrets",
                    body: FlyAPIClient.encode(SecretsUpdateBody(values: update)))
                let set = environment.secrets.keys.sorted()
                let unset = update.filter { $0.value == nil }.keys.sorted()
                if !set.isEmpty { await log.log("Set app secrets: \(set.joined(separator: ", "))", stream: .system) }
                if !unset.isEmpty { await log.log("Removed app secrets: \(unset.joined(separator: ", "))", stream: .system) }
                logger.info("Fly app secrets updated", ["fly.app": app, "fly.secrets.count": String(set.count), "fly.request_id": response.requestID ?? ""])
                // Machines read app secrets when they are created or updated. A fingerprint of Fly's digests in
                // the machine config makes `boot` update a running machine after a value changed, and only then.
                let answer = try? client.decode(SecretsUpdateResponse.self, from: response, call: "set secrets of app \(app)")
                values[FlyAllocationKey.secretsFingerprint] = Self.secretsFingerprint(answer)
            }
            if !environment.withheldSecrets.isEmpty {
                await log.log("Secrets withheld from this preview: \(environment.withheldSecrets.sorted().joined(separator: ", "))", stream: .system)
            }

            var plain = plan.environment
            plain.merge(environment.plain) { _, new in new }
            values[FlyAllocationKey.environment] = String(decoding: FlyAPIClient.encode(plain), as: UTF8.self)
            values[FlyAllocationKey.secretNames] = environment.secrets.keys.sorted().joined(separator: ",")
            values[FlyAllocationKey.cpuKind] = size.cpuKind
            values[FlyAllocationKey.cpus] = String(size.cpus)
            values[FlyAllocationKey.memoryMB] = String(size.memoryMB)
            values[FlyAllocationKey.autostop] = autostop.rawValue
            await log.log("Machine size \(size.cpus) \(size.cpuKind) CPU(s), \(size.memoryMB) MB; auto-stop \(autostop.rawValue), auto-start on", stream: .system)
            return Allocation(provider: name, values: values)
        }
    }

    // MARK: boot

    public func boot(_ allocation: Allocation, identity: PreviewIdentity, plan: PreviewPlan, source: SourceCheckout, log: any StepLogger) async throws -> BootResult {
        try await reportingProviderErrors {
            let app = try requireApp(allocation, step: "allocate")
            var values = allocation.values
            let runtime = try FlyRuntimeImage.resolve(plan, stackImages: configuration.stackImages)
            if runtime.script != nil, !source.cloneURL.lowercased().hasPrefix("https://") {
                throw FlyError.invalidInput("a Fly.io machine can only fetch the code over https, not from \(source.cloneURL)")
            }
            if runtime.script != nil, let token = source.accessToken {
                // An app secret, so the clone token never sits in the machine config that the API hands back.
                _ = try await client.send(
                    "set clone token of app \(app)", .post, "/apps/\(FlyAPIClient.segment(app))/secrets",
                    body: FlyAPIClient.encode(SecretsUpdateBody(values: [FlyRuntimeImage.gitTokenSecret: token])))
            }
            let config = try machineConfig(values: values, identity: identity, plan: plan, source: source, runtime: runtime)
            await log.log("Image \(runtime.image)" + (runtime.script == nil ? "" : " (clones \(source.headSHA), installs, builds and starts in the machine)"), stream: .system)

            let preferred = values[FlyAllocationKey.region] ?? plan.region ?? configuration.defaultRegion
            var machine: FlyMachine
            if let current = try await findMachine(app: app, id: values[FlyAllocationKey.machine]) {
                if current.config?.metadata?["previewd_config"] == config.metadata["previewd_config"], current.state == "started" {
                    await log.log("Machine \(current.id) already runs this configuration", stream: .system)
                    machine = current
                } else {
                    let call = "update machine \(current.id) of app \(app)"
                    let response = try await client.send(
                        call, .post, "/apps/\(FlyAPIClient.segment(app))/machines/\(FlyAPIClient.segment(current.id))",
                        body: FlyAPIClient.encode(UpdateMachineBody(config: config)))
                    machine = try client.decode(FlyMachine.self, from: response, call: call)
                    await log.log("Updated machine \(machine.id) in \(machine.region ?? current.region ?? preferred)", stream: .system)
                }
            } else {
                machine = try await createMachine(app: app, config: config, preferredRegion: preferred, log: log)
            }
            values[FlyAllocationKey.machine] = machine.id
            values[FlyAllocationKey.region] = machine.region ?? preferred
            values[FlyAllocationKey.image] = runtime.image

            try await waitUntilStarted(app: app, machine: machine, log: log)
            let url = configuration.previewURL(app: app)
            try await checkHealth(url: url, log: log)
            values[FlyAllocationKey.previewURL] = url
            await log.log("Preview is live at \(url)", stream: .system)
            logger.info("Fly preview booted", ["fly.app": app, "fly.machine": machine.id, "fly.region": values[FlyAllocationKey.region] ?? ""])
            return BootResult(previewURL: url, allocation: Allocation(provider: name, values: values))
        }
    }

    /// The full machine configuration; `metadata.previewd_config` fingerprints the rest so an unchanged re-run
    /// leaves a started machine alone.
    func machineConfig(values: [String: String], identity: PreviewIdentity, plan: PreviewPlan, source: SourceCheckout, runtime: FlyRuntimeImage) throws -> MachineConfig {
        let size: MachineSize
        if let kind = values[FlyAllocationKey.cpuKind], let cpus = values[FlyAllocationKey.cpus].flatMap(Int.init),
           let memory = values[FlyAllocationKey.memoryMB].flatMap(Int.init) {
            size = MachineSize(cpuKind: kind, cpus: cpus, memoryMB: memory)
        } else {
            size = try FlyGuestSize.normalized(plan.size)
        }
        let autostop = values[FlyAllocationKey.autostop].flatMap(FlyAutostop.init(rawValue:)) ?? FlyAutostop(rawValue: plan.autoStop) ?? .stop
        var env = plan.environment
        if let stored = values[FlyAllocationKey.environment], let decoded = try? JSONDecoder().decode([String: String].self, from: Data(stored.utf8)) {
            env = decoded
        }
        env["PORT"] = String(plan.port)
        env["REPO_URL"] = source.cloneURL
        env["SHA"] = source.headSHA
        if runtime.script != nil {
            env["APP_ROOT"] = plan.root
            env["INSTALL_COMMAND"] = plan.installCommand ?? ""
            env["BUILD_COMMAND"] = plan.buildCommand ?? ""
            env["START_COMMAND"] = plan.startCommand ?? ""
        }
        let service = MachineService(
            protocol_: "tcp", internal_port: plan.port, autostop: autostop, autostart: true, min_machines_running: 0,
            ports: [
                MachinePort(port: 80, handlers: ["http"], force_https: true),
                MachinePort(port: 443, handlers: ["tls", "http"], force_https: nil),
            ])
        var config = MachineConfig(
            image: runtime.image, env: env, guest: MachineGuest(cpu_kind: size.cpuKind, cpus: size.cpus, memory_mb: size.memoryMB),
            services: [service], init: runtime.script.map { MachineInit(entrypoint: ["/bin/sh", "-c"], cmd: [$0]) },
            restart: MachineRestart(policy: "on-failure", max_retries: 3),
            metadata: [
                "previewd_session": identity.sessionID.uuidString.lowercased(),
                "previewd_repository": identity.repository,
                "previewd_branch": identity.branch,
            ].merging(values[FlyAllocationKey.secretsFingerprint].map { ["previewd_secrets": $0] } ?? [:]) { old, _ in old },
            auto_destroy: nil)
        let fingerprint = String(FlyAppName.fnv1a(String(decoding: FlyAPIClient.encode(config), as: UTF8.self)), radix: 16)
        config.metadata["previewd_config"] = fingerprint
        return config
    }

    /// The preview's machine: the one recorded in the allocation, else any live machine in the app (a run that
    /// crashed after creating it never stored its id).
    func findMachine(app: String, id: String?) async throws -> FlyMachine? {
        if let id {
            let call = "get machine \(id) of app \(app)"
            let response = try await client.send(call, .get, "/apps/\(FlyAPIClient.segment(app))/machines/\(FlyAPIClient.segment(id))", accepting: [404])
            if response.status == 200 {
                let machine = try client.decode(FlyMachine.self, from: response, call: call)
                if !Self.isGone(machine.state) { return machine }
            }
        }
        return try await listMachines(app: app)?.first { !Self.isGone($0.state) }
    }

    /// Machines of `app`, `nil` when the app does not exist.
    func listMachines(app: String) async throws -> [FlyMachine]? {
        let call = "list machines of app \(app)"
        let response = try await client.send(call, .get, "/apps/\(FlyAPIClient.segment(app))/machines", accepting: [404])
        guard response.status == 200 else { return nil }
        return try client.decode([FlyMachine].self, from: response, call: call)
    }

    /// Creates the machine in the preferred region, moving on to the fallback regions while Fly reports no capacity.
    func createMachine(app: String, config: MachineConfig, preferredRegion: String, log: any StepLogger) async throws -> FlyMachine {
        var regions = [preferredRegion]
        for region in configuration.fallbackRegions where !regions.contains(region) { regions.append(region) }
        var lastCapacityError: FlyError?
        for region in regions {
            do {
                let machine = try await createMachineOnce(app: app, config: config, region: region)
                await log.log("Created machine \(machine.id) in \(machine.region ?? region)", stream: .system)
                return machine
            } catch let error as FlyError where Self.isCapacityError(error) {
                lastCapacityError = error
                await log.log("Fly.io has no capacity in \(region)" + (region == regions.last ? "" : "; trying the next region"), stream: .system)
            }
        }
        throw FlyError.insufficientCapacity(regions: regions, message: lastCapacityError?.flyMessage, requestID: lastCapacityError?.requestID)
    }

    /// One create, retried on transient failures only after checking that the lost attempt made no machine.
    func createMachineOnce(app: String, config: MachineConfig, region: String) async throws -> FlyMachine {
        let call = "create machine in app \(app) (\(region))"
        let body = FlyAPIClient.encode(CreateMachineBody(name: "preview", region: region, config: config))
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await client.send(call, .post, "/apps/\(FlyAPIClient.segment(app))/machines", body: body, retries: 0)
                return try client.decode(FlyMachine.self, from: response, call: call)
            } catch let error as FlyError where error.isTransient && attempt <= configuration.maxRetries {
                if let made = try await listMachines(app: app)?.first(where: { !Self.isGone($0.state) }) { return made }
                try await sleep(client.backoff(attempt: attempt, retryAfter: nil))
            }
        }
    }

    /// Long-polls `/wait?state=started` in slices of at most 60 s (Fly's limit) until `waitTimeout` is spent.
    func waitUntilStarted(app: String, machine: FlyMachine, log: any StepLogger) async throws {
        let budget = max(Int(configuration.waitTimeout.components.seconds), 1)
        var waited = 0
        let path = "/apps/\(FlyAPIClient.segment(app))/machines/\(FlyAPIClient.segment(machine.id))/wait"
        while true {
            let slice = max(1, min(60, budget - waited))
            var query = [("state", "started"), ("timeout", String(slice))]
            if let instance = machine.instance_id { query.append(("instance_id", instance)) }
            let response = try await client.send(
                "wait for machine \(machine.id) of app \(app) to start", .get, path, query: query,
                accepting: [408], timeout: .seconds(slice + 15))
            if response.status != 408 {
                await log.log("Machine \(machine.id) started", stream: .system)
                return
            }
            waited += slice
            guard waited < budget else {
                throw FlyError.waitTimedOut(
                    app: app, machine: machine.id, state: "started", waitedSeconds: waited,
                    message: response.errorBody?.error.map(client.redact), requestID: response.requestID)
            }
            await log.log("Machine \(machine.id) is still starting after \(waited) s", stream: .system)
        }
    }

    /// Asks the preview URL until the app answers with anything but a 5xx (the Fly proxy's "no app listening").
    /// The request carries no Fly token: it goes to the user's app.
    func checkHealth(url: String, log: any StepLogger) async throws {
        let interval = max(configuration.healthInterval.components.seconds, 1)
        let attempts = max(Int(configuration.healthTimeout.components.seconds / interval), 1)
        var last = "no attempt"
        for attempt in 1...attempts {
            do {
                let response = try await transport.send(HTTPClientRequest(method: .get, url: url, headers: ["User-Agent": "previewd"], timeout: .seconds(10)))
                if response.status < 500 {
                    await log.log("Health check \(url) answered \(response.status)", stream: .system)
                    return
                }
                last = "status \(response.status)"
            } catch {
                last = client.redact(String(describing: error))
            }
            if attempt < attempts { try await sleep(configuration.healthInterval) }
        }
        throw FlyError.healthCheckFailed(url: url, attempts: attempts, lastResult: last)
    }

    // MARK: status

    public func status(_ allocation: Allocation) async throws -> PreviewState {
        try await reportingProviderErrors {
            guard let app = allocation.values[FlyAllocationKey.app] else { return .absent }
            guard let id = allocation.values[FlyAllocationKey.machine] else {
                return try await isOurApp(app) ? .allocated : .absent
            }
            let call = "get machine \(id) of app \(app)"
            let response = try await client.send(call, .get, "/apps/\(FlyAPIClient.segment(app))/machines/\(FlyAPIClient.segment(id))", accepting: [404])
            guard response.status == 200 else { return .absent }
            return Self.previewState(forMachineState: try client.decode(FlyMachine.self, from: response, call: call).state)
        }
    }

    /// How a Fly machine state reads as a preview state.
    public static func previewState(forMachineState state: String?) -> PreviewState {
        switch state {
        case "started": .running
        case "stopped", "stopping", "suspended", "suspending": .stopped
        case "created", "starting", "replacing", "updating": .starting
        case "destroyed", "destroying": .absent
        case "failed", "launch_failed": .failed
        default: .starting
        }
    }

    // MARK: destroy

    public func destroy(_ allocation: Allocation, log: any StepLogger) async throws {
        try await reportingProviderErrors {
            guard let app = allocation.values[FlyAllocationKey.app] else {
                await log.log("Nothing to destroy: no Fly app was allocated", stream: .system)
                return
            }
            guard let machines = try await listMachines(app: app) else {
                await log.log("Fly app \(app) is already gone", stream: .system)
                return
            }
            for machine in machines where !Self.isGone(machine.state) {
                let path = "/apps/\(FlyAPIClient.segment(app))/machines/\(FlyAPIClient.segment(machine.id))"
                if machine.state != "stopped", machine.state != "suspended" {
                    // Already stopping or stopped machines answer 4xx here; the forced delete below handles them.
                    _ = try await client.send("stop machine \(machine.id) of app \(app)", .post, path + "/stop", accepting: [400, 404, 409, 412])
                }
                _ = try await client.send("delete machine \(machine.id) of app \(app)", .delete, path, query: [("force", "true")], accepting: [404])
                await log.log("Deleted machine \(machine.id)", stream: .system)
            }
            let response = try await client.send("delete app \(app)", .delete, "/apps/\(FlyAPIClient.segment(app))", accepting: [404])
            await log.log(response.status == 404 ? "Fly app \(app) is already gone" : "Deleted Fly app \(app)", stream: .system)
            logger.info("Fly preview destroyed", ["fly.app": app])
        }
    }

    // MARK: Helpers

    func requireApp(_ allocation: Allocation, step: String) throws -> String {
        guard let app = allocation.values[FlyAllocationKey.app], !app.isEmpty else {
            throw FlyError.missingAllocationValue(key: FlyAllocationKey.app, step: step)
        }
        return app
    }

    /// Fly's per-secret digests, folded into one value; the clone token (new on every boot) is left out.
    /// Without digests, Fly's version number stands in, and without that, a fresh value forces an update.
    static func secretsFingerprint(_ answer: SecretsUpdateResponse?) -> String {
        let secrets = (answer?.secrets ?? []).filter { $0.name != FlyRuntimeImage.gitTokenSecret }
        if !secrets.isEmpty, secrets.allSatisfy({ $0.digest?.isEmpty == false }) {
            let text = secrets.map { "\($0.name ?? "")=\($0.digest ?? "")" }.sorted().joined(separator: "\n")
            return String(FlyAppName.fnv1a(text), radix: 16)
        }
        if let version = answer?.version { return "v\(version)" }
        return UUID().uuidString.lowercased()
    }

    static func isGone(_ state: String?) -> Bool { state == "destroyed" || state == "destroying" }

    static func isCapacityError(_ error: FlyError) -> Bool {
        guard case .requestFailed(_, let status, let message, let code, _) = error else { return false }
        if code == "insufficient_capacity" { return true }
        return status == 409 && (message ?? "").contains("insufficient resources")
    }

    /// Runs a step, turning ``FlyError`` into the ``ProviderError`` the step runner understands.
    func reportingProviderErrors<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as FlyError {
            logger.error("Fly.io step failed", ["error": error.description, "fly.request_id": error.requestID ?? ""])
            throw ProviderError(error.description, isTransient: error.isTransient)
        }
    }
}
