import Foundation

/// One way a request or response breaks a published OpenAPI description.
public struct ContractViolation: Sendable, Equatable, CustomStringConvertible {
    /// The operation, as `METHOD /path/{template}`, or the raw request line when none matched.
    public var operation: String
    /// Where the problem is: a JSON path into the body (`$.output.summary`), `path.<name>` or `query.<name>`.
    public var location: String
    public var message: String

    public init(operation: String, location: String, message: String) {
        self.operation = operation
        self.location = location
        self.message = message
    }

    public var description: String { "\(operation): \(location): \(message)" }
}

/// Checks HTTP exchanges against an OpenAPI 3.0 description (GitHub's REST subset, Fly's Machines API).
///
/// It understands the JSON Schema subset those descriptions use: `type` with `nullable`, `properties`,
/// `required`, `additionalProperties`, `enum`, `items`, `oneOf`/`anyOf`/`allOf`, local `$ref`,
/// `minLength`/`maxLength`, `minimum`/`maximum`, `minItems`/`maxItems`. `discriminator` is ignored on purpose:
/// GitHub's check-run body names one without a mapping, and `oneOf` already decides the branch.
public struct OpenAPIContract: Sendable {
    /// One documented operation.
    public struct Operation: Sendable {
        public let method: String
        public let pathTemplate: String
        public let operationID: String?
        let segments: [Segment]
        let parameters: [Parameter]
        let requestBody: RequestBody?
        let responses: [String: JSONValue]

        /// `METHOD /path/{template}`, the form used in `x-fixture-subset.operations`.
        public var key: String { "\(method) \(pathTemplate)" }
    }

    enum Segment: Sendable {
        case literal(String)
        /// A path parameter; multi-segment ones (`x-multi-segment`) may contain slashes (`branch`, `path`).
        case parameter(String, multiSegment: Bool)
    }

    struct Parameter: Sendable {
        let name: String
        let location: String
        let required: Bool
        let schema: JSONValue?
    }

    struct RequestBody: Sendable {
        let required: Bool
        let schema: JSONValue?
    }

    /// The result of checking one request.
    public struct RequestCheck: Sendable {
        /// The matched operation, `nil` when the description has none for this method and path.
        public let operation: Operation?
        /// Path parameters, percent-decoded.
        public let pathParameters: [String: String]
        public let violations: [ContractViolation]
    }

    public let document: JSONValue
    public let operations: [Operation]

    /// Reads the description at `url`.
    public init(contentsOf url: URL) throws {
        try self.init(document: JSONValue(parsing: Data(contentsOf: url)))
    }

    /// Builds the contract from an already parsed description.
    public init(document: JSONValue) {
        self.document = document
        var operations: [Operation] = []
        let paths = document["paths"]?.objectValue ?? [:]
        for (template, item) in paths.sorted(by: { $0.key < $1.key }) {
            let shared = item["parameters"]?.arrayValue ?? []
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                guard let definition = item[method] else { continue }
                operations.append(Self.operation(method: method, template: template, definition: definition, shared: shared, document: document))
            }
        }
        self.operations = operations
    }

    /// The shared fixtures directory (see ``SharedFixtures/directory``).
    public static var fixturesDirectory: URL { SharedFixtures.directory }

    /// GitHub's REST description subset (`github/openapi-subset.json`), parsed once per process.
    public static func gitHubSubset() throws -> OpenAPIContract {
        try cachedGitHubSubset.get()
    }

    private static let cachedGitHubSubset = Result {
        try OpenAPIContract(contentsOf: fixturesDirectory.appendingPathComponent("github/openapi-subset.json"))
    }

    /// Fly.io's Machines API description (`fly/machines-openapi.json`).
    public static func flyMachines() throws -> OpenAPIContract {
        try OpenAPIContract(contentsOf: fixturesDirectory.appendingPathComponent("fly/machines-openapi.json"))
    }

    // MARK: Matching

    /// The operation documented for `method` and `path` (without the server's path prefix), with its path parameters.
    public func match(method: String, path: String) -> (operation: Operation, parameters: [String: String])? {
        let method = method.uppercased()
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var best: (operation: Operation, parameters: [String: String], literals: Int)?
        for operation in operations where operation.method == method {
            guard let parameters = Self.match(operation.segments[...], parts[...]) else { continue }
            let literals = operation.segments.filter { if case .literal = $0 { true } else { false } }.count
            if best == nil || literals > best!.literals {
                best = (operation, parameters, literals)
            }
        }
        return best.map { ($0.operation, $0.parameters) }
    }

    private static func match(_ segments: ArraySlice<Segment>, _ parts: ArraySlice<String>) -> [String: String]? {
        guard let first = segments.first else { return parts.isEmpty ? [:] : nil }
        guard !parts.isEmpty else { return nil }
        switch first {
        case .literal(let literal):
            guard parts.first == literal else { return nil }
            return match(segments.dropFirst(), parts.dropFirst())
        case .parameter(let name, let multiSegment):
            let maximum = multiSegment ? parts.count : 1
            for count in stride(from: 1, through: maximum, by: 1) {
                guard var rest = match(segments.dropFirst(), parts.dropFirst(count)) else { continue }
                let raw = parts.prefix(count).joined(separator: "/")
                rest[name] = raw.removingPercentEncoding ?? raw
                return rest
            }
            return nil
        }
    }

    // MARK: Requests

    /// Checks a request: that its operation is documented, its path and query parameters fit, and its JSON body
    /// matches the request-body schema.
    public func validateRequest(method: String, path: String, query: [(name: String, value: String)], body: Data?) -> RequestCheck {
        guard let (operation, pathParameters) = match(method: method, path: path) else {
            let violation = ContractViolation(
                operation: "\(method.uppercased()) \(path)", location: "path",
                message: "no operation in the description matches this method and path")
            return RequestCheck(operation: nil, pathParameters: [:], violations: [violation])
        }
        var violations: [ContractViolation] = []
        func report(_ location: String, _ message: String) {
            violations.append(ContractViolation(operation: operation.key, location: location, message: message))
        }
        for parameter in operation.parameters where parameter.location == "path" {
            guard let value = pathParameters[parameter.name] else {
                report("path.\(parameter.name)", "required path parameter is missing")
                continue
            }
            if let message = checkParameterValue(value, schema: parameter.schema) { report("path.\(parameter.name)", message) }
        }
        let queryParameters = operation.parameters.filter { $0.location == "query" }
        for item in query {
            guard let parameter = queryParameters.first(where: { $0.name == item.name }) else {
                report("query.\(item.name)", "query parameter is not documented for this operation")
                continue
            }
            if let message = checkParameterValue(item.value, schema: parameter.schema) { report("query.\(item.name)", message) }
        }
        for parameter in queryParameters where parameter.required && !query.contains(where: { $0.name == parameter.name }) {
            report("query.\(parameter.name)", "required query parameter is missing")
        }

        let body = body ?? Data()
        if body.isEmpty {
            if operation.requestBody?.required == true { report("body", "request body is required") }
        } else if let requestBody = operation.requestBody {
            if let schema = requestBody.schema {
                do {
                    let value = try JSONValue(parsing: body)
                    violations += validate(value, against: schema, operation: operation.key)
                } catch {
                    report("body", "request body is not valid JSON")
                }
            }
        } else {
            report("body", "operation takes no request body, but \(body.count) bytes were sent")
        }
        return RequestCheck(operation: operation, pathParameters: pathParameters, violations: violations)
    }

    private func checkParameterValue(_ value: String, schema: JSONValue?) -> String? {
        guard let schema = schema.map(resolve) else { return nil }
        let typed: JSONValue
        switch schema["type"]?.stringValue {
        case "integer":
            guard let number = Int64(value) else { return "'\(value)' is not an integer" }
            typed = .integer(number)
        case "number":
            guard let number = Double(value) else { return "'\(value)' is not a number" }
            typed = .number(number)
        case "boolean":
            guard value == "true" || value == "false" else { return "'\(value)' is not a boolean" }
            typed = .bool(value == "true")
        default:
            typed = .string(value)
        }
        return validate(typed, against: schema, operation: "").first?.message
    }

    // MARK: Responses

    /// Checks a JSON response body against the schema documented for `status` (or `default`).
    /// An undocumented status or a body without a documented schema yields no violations.
    public func validateResponse(_ operation: Operation, status: Int, body: Data) -> [ContractViolation] {
        guard var response = operation.responses[String(status)] ?? operation.responses["default"] else { return [] }
        response = resolve(response)
        guard let schema = response["content"]?["application/json"]?["schema"] else { return [] }
        guard let value = try? JSONValue(parsing: body) else {
            return [ContractViolation(operation: operation.key, location: "response", message: "response body is not valid JSON")]
        }
        return validate(value, against: schema, operation: operation.key, root: "response$")
    }

    // MARK: Schemas

    /// Validates `value` against `schema`; locations are JSON paths starting at `root`.
    public func validate(_ value: JSONValue, against schema: JSONValue, operation: String, root: String = "$") -> [ContractViolation] {
        var violations: [ContractViolation] = []
        check(value, schema, root) { location, message in
            violations.append(ContractViolation(operation: operation, location: location, message: message))
        }
        return violations
    }

    /// Follows a local `$ref` (`#/components/schemas/check-run`) to its target, repeatedly.
    func resolve(_ schema: JSONValue) -> JSONValue {
        var current = schema
        var hops = 0
        while let reference = current["$ref"]?.stringValue, hops < 32 {
            guard reference.hasPrefix("#/") else { return current }
            var target: JSONValue? = document
            for part in reference.dropFirst(2).split(separator: "/") {
                let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                target = target?[key]
            }
            guard let target else { return current }
            current = target
            hops += 1
        }
        return current
    }

    private func check(_ value: JSONValue, _ rawSchema: JSONValue, _ path: String, _ report: (String, String) -> Void) {
        let schema = resolve(rawSchema)
        guard schema.objectValue != nil else { return }

        if value == .null {
            if schema["nullable"]?.boolValue == true { return }
            if let type = schema["type"]?.stringValue {
                report(path, "is null, but the schema wants \(type) and is not nullable")
                return
            }
        }

        if let type = schema["type"]?.stringValue, !Self.value(value, hasType: type) {
            report(path, "is \(value.typeName), expected \(type)")
            return
        }

        if let options = schema["enum"]?.arrayValue, !options.contains(where: { Self.equal($0, value) }) {
            let listed = options.map(\.description).joined(separator: ", ")
            report(path, "\(value) is not one of [\(listed)]")
        }

        switch value {
        case .string(let string):
            // JSON Schema counts code points; GitHub's limits count characters the same way.
            let length = string.unicodeScalars.count
            if let maximum = schema["maxLength"]?.integerValue, length > maximum {
                report(path, "is \(length) characters long, more than maxLength \(maximum)")
            }
            if let minimum = schema["minLength"]?.integerValue, length < minimum {
                report(path, "is \(length) characters long, less than minLength \(minimum)")
            }
        case .integer, .number:
            let number = value.doubleValue ?? 0
            if let maximum = schema["maximum"]?.doubleValue, number > maximum { report(path, "\(value) is above maximum \(maximum)") }
            if let minimum = schema["minimum"]?.doubleValue, number < minimum { report(path, "\(value) is below minimum \(minimum)") }
        case .array(let items):
            if let maximum = schema["maxItems"]?.integerValue, items.count > maximum {
                report(path, "has \(items.count) items, more than maxItems \(maximum)")
            }
            if let minimum = schema["minItems"]?.integerValue, items.count < minimum {
                report(path, "has \(items.count) items, less than minItems \(minimum)")
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { check(item, itemSchema, "\(path)[\(index)]", report) }
            }
        case .object(let members):
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                report(Self.child(path, name), "required property is missing")
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    check(member, propertySchema, Self.child(path, name), report)
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        report(Self.child(path, name), "property is not allowed (additionalProperties is false)")
                    } else if additional.objectValue != nil {
                        check(member, additional, Self.child(path, name), report)
                    }
                }
            }
        default:
            break
        }

        if let all = schema["allOf"]?.arrayValue {
            for branch in all { check(value, branch, path, report) }
        }
        if let any = schema["anyOf"]?.arrayValue {
            let failures = any.map { branchViolations(value, $0, path) }
            if !failures.contains(where: \.isEmpty) {
                report(path, "matches none of the anyOf schemas (\(Self.summarize(failures)))")
            }
        }
        if let one = schema["oneOf"]?.arrayValue {
            let failures = one.map { branchViolations(value, $0, path) }
            let matching = failures.filter(\.isEmpty).count
            if matching == 0 {
                report(path, "matches none of the oneOf schemas (\(Self.summarize(failures)))")
            } else if matching > 1 {
                report(path, "matches \(matching) of the oneOf schemas, exactly one is allowed")
            }
        }
    }

    private func branchViolations(_ value: JSONValue, _ schema: JSONValue, _ path: String) -> [String] {
        var messages: [String] = []
        check(value, schema, path) { location, message in messages.append("\(location): \(message)") }
        return messages
    }

    private static func summarize(_ failures: [[String]]) -> String {
        failures.enumerated().map { "option \($0.offset + 1): \($0.element.prefix(3).joined(separator: "; "))" }.joined(separator: " | ")
    }

    private static func child(_ path: String, _ name: String) -> String {
        name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } ? "\(path).\(name)" : "\(path)[\"\(name)\"]"
    }

    private static func value(_ value: JSONValue, hasType type: String) -> Bool {
        switch type {
        case "integer": return value.typeName == "integer"
        case "number": return value.doubleValue != nil
        case "string", "boolean", "array", "object", "null": return value.typeName == type
        default: return true
        }
    }

    private static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        return a == b
    }

    // MARK: Loading

    private static func operation(method: String, template: String, definition: JSONValue, shared: [JSONValue], document: JSONValue) -> Operation {
        let lookup = OpenAPIContract(resolvingOnly: document)
        var parameters: [Parameter] = []
        for raw in shared + (definition["parameters"]?.arrayValue ?? []) {
            let parameter = lookup.resolve(raw)
            guard let name = parameter["name"]?.stringValue, let location = parameter["in"]?.stringValue else { continue }
            parameters.removeAll { $0.name == name && $0.location == location }
            parameters.append(Parameter(
                name: name, location: location,
                required: parameter["required"]?.boolValue ?? (location == "path"),
                schema: parameter["schema"]))
        }
        let segments: [Segment] = template.split(separator: "/").map { part in
            if part.hasPrefix("{"), part.hasSuffix("}") {
                let name = String(part.dropFirst().dropLast())
                let multi = parameters.contains { $0.name == name && $0.location == "path" }
                    && (shared + (definition["parameters"]?.arrayValue ?? [])).contains {
                        let resolved = lookup.resolve($0)
                        return resolved["name"]?.stringValue == name && resolved["x-multi-segment"]?.boolValue == true
                    }
                return .parameter(name, multiSegment: multi)
            }
            return .literal(String(part))
        }
        var requestBody: RequestBody?
        if let raw = definition["requestBody"] {
            let body = lookup.resolve(raw)
            requestBody = RequestBody(required: body["required"]?.boolValue ?? false, schema: body["content"]?["application/json"]?["schema"])
        }
        return Operation(
            method: method.uppercased(), pathTemplate: template, operationID: definition["operationId"]?.stringValue,
            segments: segments, parameters: parameters, requestBody: requestBody,
            responses: definition["responses"]?.objectValue ?? [:])
    }

    private init(resolvingOnly document: JSONValue) {
        self.document = document
        self.operations = []
    }
}
