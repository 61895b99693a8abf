import Foundation

extension FakeFly {
    /// One way the fake's contract goes beyond `fly/machines-openapi.json` (a February 2024 copy), each taken
    /// from Fly's current Machines API documentation (docs.machines.dev). Requests using them are checked against
    /// the schemas added here, not waved through.
    public struct Extension: Sendable, Equatable {
        /// An operation key (`POST /apps/{app_name}/secrets`) or a schema location.
        public var name: String
        public var reason: String
    }

    /// Everything the fake adds to the fixture's description, listed explicitly.
    public static let extensions: [Extension] = [
        Extension(name: "GET /apps/{app_name}/ip_assignments", reason: "list an app's IP addresses (ListIPAssignmentsResponse)"),
        Extension(name: "POST /apps/{app_name}/ip_assignments", reason: "assign shared_v4/v6/v4/private_v6 addresses (AssignIPRequest)"),
        Extension(name: "DELETE /apps/{app_name}/ip_assignments/{ip}", reason: "release an address"),
        Extension(name: "GET /apps/{app_name}/secrets", reason: "list app secret names and digests (AppSecrets)"),
        Extension(name: "POST /apps/{app_name}/secrets", reason: "set or unset (null) app secrets in bulk (AppSecretsUpdateRequest)"),
        Extension(
            name: "api.MachineService.autostop",
            reason: "takes \"off\", \"stop\" or \"suspend\" as well as the fixture's boolean (fly.MachineAutostop)"),
    ]

    /// The fixture's description with ``extensions`` added, and, stricter than Fly, every object schema that lists
    /// its properties closed to others (`additionalProperties: false`) so a misspelt field is a violation rather
    /// than something Fly would silently ignore.
    public static func extendedContract(_ base: OpenAPIContract) -> OpenAPIContract {
        guard case .object(var document) = base.document else { return base }
        var paths = document["paths"]?.objectValue ?? [:]
        var schemas = document["components"]?["schemas"]?.objectValue ?? [:]

        func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
        func json(_ schema: JSONValue) -> JSONValue { ["application/json": ["schema": schema]] }
        func pathParameter(_ name: String) -> JSONValue {
            ["name": .string(name), "in": "path", "required": true, "schema": ["type": "string"]]
        }
        let appName = pathParameter("app_name")

        paths["/apps/{app_name}/ip_assignments"] = [
            "get": [
                "operationId": "App_IPAssignments_list", "parameters": [appName],
                "responses": ["200": ["description": "OK", "content": json(ref("ListIPAssignmentsResponse"))]],
            ],
            "post": [
                "operationId": "App_IPAssignments_create", "parameters": [appName],
                "requestBody": ["required": true, "content": json(ref("AssignIPRequest"))],
                "responses": ["200": ["description": "OK", "content": json(ref("IPAssignment"))]],
            ],
        ]
        paths["/apps/{app_name}/ip_assignments/{ip}"] = [
            "delete": [
                "operationId": "App_IPAssignments_delete", "parameters": [appName, pathParameter("ip")],
                "responses": ["204": ["description": "No Content"]],
            ],
        ]
        paths["/apps/{app_name}/secrets"] = [
            "get": [
                "operationId": "Secrets_list", "parameters": [appName],
                "responses": ["200": ["description": "OK", "content": json(ref("AppSecrets"))]],
            ],
            "post": [
                "operationId": "Secrets_update", "parameters": [appName],
                "requestBody": ["required": true, "content": json(ref("AppSecretsUpdateRequest"))],
                "responses": ["200": ["description": "OK", "content": json(ref("AppSecretsUpdateResp"))]],
            ],
        ]

        schemas["AssignIPRequest"] = [
            "type": "object", "required": ["type"],
            "properties": [
                "type": ["type": "string", "enum": ["v4", "v6", "shared_v4", "private_v6", "egress_v4", "egress_v6"]],
                "region": ["type": "string"], "org_slug": ["type": "string"], "network": ["type": "string"],
                "service_name": ["type": "string"],
            ],
        ]
        schemas["IPAssignment"] = [
            "type": "object",
            "properties": [
                "ip": ["type": "string"], "region": ["type": "string"], "service_name": ["type": "string"],
                "shared": ["type": "boolean"], "created_at": ["type": "string"],
            ],
        ]
        schemas["ListIPAssignmentsResponse"] = ["type": "object", "properties": ["ips": ["type": "array", "items": ref("IPAssignment")]]]
        schemas["AppSecret"] = [
            "type": "object",
            "properties": [
                "name": ["type": "string"], "digest": ["type": "string"], "created_at": ["type": "string"],
                "updated_at": ["type": "string"], "value": ["type": "string"],
            ],
        ]
        schemas["AppSecrets"] = ["type": "object", "properties": ["secrets": ["type": "array", "items": ref("AppSecret")]]]
        schemas["AppSecretsUpdateRequest"] = [
            "type": "object",
            "properties": ["values": ["type": "object", "additionalProperties": ["type": "string", "nullable": true]]],
        ]
        schemas["AppSecretsUpdateResp"] = [
            "type": "object",
            "properties": ["secrets": ["type": "array", "items": ref("AppSecret")], "version": ["type": "integer"]],
        ]
        if case .object(var service) = schemas["api.MachineService"], case .object(var properties) = service["properties"] {
            properties["autostop"] = ["anyOf": [["type": "boolean"], ["type": "string", "enum": ["off", "stop", "suspend"]]]]
            service["properties"] = .object(properties)
            schemas["api.MachineService"] = .object(service)
        }

        for (name, schema) in schemas { schemas[name] = closingObjects(schema) }
        var components = document["components"]?.objectValue ?? [:]
        components["schemas"] = .object(schemas)
        document["components"] = .object(components)
        document["paths"] = .object(paths)
        return OpenAPIContract(document: .object(document))
    }

    private static func closingObjects(_ schema: JSONValue) -> JSONValue {
        switch schema {
        case .object(var members):
            for (key, value) in members where key != "enum" && key != "example" { members[key] = closingObjects(value) }
            if members["properties"]?.objectValue != nil, members["additionalProperties"] == nil {
                members["additionalProperties"] = false
            }
            return .object(members)
        case .array(let items):
            return .array(items.map(closingObjects))
        default:
            return schema
        }
    }
}
