import Foundation

// Request and response bodies of the Machines API, with exactly the fields previewd sends or reads.

struct CreateAppBody: Encodable {
    var app_name: String
    var org_slug: String
}

struct FlyApp: Decodable {
    struct Organization: Decodable {
        var name: String?
        var slug: String?
    }

    var id: String?
    var name: String?
    var organization: Organization?
    var status: String?
}

struct AssignIPBody: Encodable {
    var type: String
    var org_slug: String?
}

struct IPAssignment: Decodable {
    var ip: String?
    var region: String?
    var shared: Bool?
}

struct IPAssignmentList: Decodable {
    var ips: [IPAssignment]?
}

struct SecretsUpdateBody: Encodable {
    /// `nil` unsets a secret.
    var values: [String: String?]
}

struct SecretsUpdateResponse: Decodable {
    struct Secret: Decodable {
        var name: String?
        var digest: String?
    }

    var secrets: [Secret]?
    var version: Int?
}

/// How the Fly proxy treats an idle machine.
///
/// The fixture's description types `autostop` as a boolean; Fly's current API also takes `"off"`, `"stop"` and
/// `"suspend"` and still answers with booleans for the first two. So `off`/`stop` go out as booleans (valid in
/// both) and only `suspend` as a string.
public enum FlyAutostop: String, Sendable, Codable, CaseIterable {
    case off, stop, suspend

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            self = flag ? .stop : .off
        } else {
            let text = try container.decode(String.self)
            guard let value = FlyAutostop(rawValue: text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown autostop '\(text)'")
            }
            self = value
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .off: try container.encode(false)
        case .stop: try container.encode(true)
        case .suspend: try container.encode("suspend")
        }
    }
}

struct MachineGuest: Codable, Equatable {
    var cpu_kind: String
    var cpus: Int
    var memory_mb: Int
}

struct MachinePort: Codable, Equatable {
    var port: Int
    var handlers: [String]
    var force_https: Bool?
}

struct MachineService: Codable, Equatable {
    var protocol_: String
    var internal_port: Int
    var autostop: FlyAutostop
    var autostart: Bool
    var min_machines_running: Int
    var ports: [MachinePort]

    enum CodingKeys: String, CodingKey {
        case protocol_ = "protocol"
        case internal_port, autostop, autostart, min_machines_running, ports
    }
}

struct MachineInit: Codable, Equatable {
    var entrypoint: [String]?
    var cmd: [String]?
}

struct MachineRestart: Codable, Equatable {
    var policy: String
    var max_retries: Int?
}

struct MachineConfig: Codable, Equatable {
    var image: String
    var env: [String: String]
    var guest: MachineGuest
    var services: [MachineService]
    var `init`: MachineInit?
    var restart: MachineRestart?
    var metadata: [String: String]
    var auto_destroy: Bool?
}

struct CreateMachineBody: Encodable {
    var name: String
    var region: String
    var config: MachineConfig
}

struct UpdateMachineBody: Encodable {
    var config: MachineConfig
}

/// What previewd reads of a machine.
struct FlyMachine: Decodable {
    struct Config: Decodable {
        var image: String?
        var metadata: [String: String]?
    }

    var id: String
    var name: String?
    var state: String?
    var region: String?
    var instance_id: String?
    var config: Config?
}
