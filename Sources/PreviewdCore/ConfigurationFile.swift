import Foundation

/// The JSON defaults file (`config/previewd.json`), decoded strictly: every key is optional, but
/// a key previewd does not know is an error naming its path, so a typo is never silently ignored.
/// A key set to `null` counts as left out.
struct ConfigurationFile: Decodable, Equatable {
    var port: Int?
    var host: String?
    var dataDirectory: String?
    var logLevel: String?
    var publicURL: String?
    var mode: String?
    var provider: String?
    var allowLocalClone: Bool?
    var github: GitHub?
    var fly: Fly?
    var steps: Steps?
    var http: HTTP?
    var database: Database?
    var jobs: Jobs?
    var intake: Intake?
    var recovery: Recovery?
    var previews: Previews?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case port, host, dataDirectory, logLevel, publicURL, mode, provider, allowLocalClone
        case github, fly, steps, http, database, jobs, intake, recovery, previews
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        port = try c.decodeIfPresent(Int.self, forKey: .port)
        host = try c.decodeIfPresent(String.self, forKey: .host)
        dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel)
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        mode = try c.decodeIfPresent(String.self, forKey: .mode)
        provider = try c.decodeIfPresent(String.self, forKey: .provider)
        allowLocalClone = try c.decodeIfPresent(Bool.self, forKey: .allowLocalClone)
        github = try c.decodeIfPresent(GitHub.self, forKey: .github)
        fly = try c.decodeIfPresent(Fly.self, forKey: .fly)
        steps = try c.decodeIfPresent(Steps.self, forKey: .steps)
        http = try c.decodeIfPresent(HTTP.self, forKey: .http)
        database = try c.decodeIfPresent(Database.self, forKey: .database)
        jobs = try c.decodeIfPresent(Jobs.self, forKey: .jobs)
        intake = try c.decodeIfPresent(Intake.self, forKey: .intake)
        recovery = try c.decodeIfPresent(Recovery.self, forKey: .recovery)
        previews = try c.decodeIfPresent(Previews.self, forKey: .previews)
    }

    struct GitHub: Decodable, Equatable {
        var apiURL: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case apiURL }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            apiURL = try c.decodeIfPresent(String.self, forKey: .apiURL)
        }
    }

    struct Fly: Decodable, Equatable {
        var apiURL: String?
        var org: String?
        var region: String?
        var previewURLTemplate: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case apiURL, org, region, previewURLTemplate }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            apiURL = try c.decodeIfPresent(String.self, forKey: .apiURL)
            org = try c.decodeIfPresent(String.self, forKey: .org)
            region = try c.decodeIfPresent(String.self, forKey: .region)
            previewURLTemplate = try c.decodeIfPresent(String.self, forKey: .previewURLTemplate)
        }
    }

    struct Steps: Decodable, Equatable {
        var timeouts: Timeouts?
        enum CodingKeys: String, CodingKey, CaseIterable { case timeouts }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts)
        }
    }

    struct Timeouts: Decodable, Equatable {
        var detect: Int?
        var allocate: Int?
        var configure: Int?
        var boot: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case detect, allocate, configure, boot }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            detect = try c.decodeIfPresent(Int.self, forKey: .detect)
            allocate = try c.decodeIfPresent(Int.self, forKey: .allocate)
            configure = try c.decodeIfPresent(Int.self, forKey: .configure)
            boot = try c.decodeIfPresent(Int.self, forKey: .boot)
        }
    }

    struct HTTP: Decodable, Equatable {
        var maxBodyBytes: Int?
        var connectionTimeoutSeconds: Int?
        var threads: Int?
        var maxConnections: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case maxBodyBytes, connectionTimeoutSeconds, threads, maxConnections }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes)
            connectionTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .connectionTimeoutSeconds)
            threads = try c.decodeIfPresent(Int.self, forKey: .threads)
            maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections)
        }
    }

    struct Database: Decodable, Equatable {
        var maxConnections: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case maxConnections }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections)
        }
    }

    struct Jobs: Decodable, Equatable {
        var leaseSeconds: Int?
        var workers: Int?
        var quickWorkers: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case leaseSeconds, workers, quickWorkers }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            leaseSeconds = try c.decodeIfPresent(Int.self, forKey: .leaseSeconds)
            workers = try c.decodeIfPresent(Int.self, forKey: .workers)
            quickWorkers = try c.decodeIfPresent(Int.self, forKey: .quickWorkers)
        }
    }

    struct Intake: Decodable, Equatable {
        var maxPayloadBytes: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case maxPayloadBytes }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            maxPayloadBytes = try c.decodeIfPresent(Int.self, forKey: .maxPayloadBytes)
        }
    }

    struct Recovery: Decodable, Equatable {
        var intervalSeconds: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case intervalSeconds }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            intervalSeconds = try c.decodeIfPresent(Int.self, forKey: .intervalSeconds)
        }
    }

    struct Previews: Decodable, Equatable {
        var ttlSeconds: Int?
        var maxExtensionSeconds: Int?
        var maxLivePerRepository: Int?
        var cleanupIntervalSeconds: Int?
        var niceness: Int?
        enum CodingKeys: String, CodingKey, CaseIterable { case ttlSeconds, maxExtensionSeconds, maxLivePerRepository, cleanupIntervalSeconds, niceness }
        init(from decoder: any Decoder) throws {
            let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
            ttlSeconds = try c.decodeIfPresent(Int.self, forKey: .ttlSeconds)
            maxExtensionSeconds = try c.decodeIfPresent(Int.self, forKey: .maxExtensionSeconds)
            maxLivePerRepository = try c.decodeIfPresent(Int.self, forKey: .maxLivePerRepository)
            cleanupIntervalSeconds = try c.decodeIfPresent(Int.self, forKey: .cleanupIntervalSeconds)
            niceness = try c.decodeIfPresent(Int.self, forKey: .niceness)
        }
    }

    /// Decodes `data`, turning any decoding failure into an error naming the file and key path.
    static func decode(_ data: Data, path: String) throws(ConfigurationError) -> ConfigurationFile {
        do {
            return try JSONDecoder().decode(ConfigurationFile.self, from: data)
        } catch let error as DecodingError {
            switch error {
            case .typeMismatch(let type, let context):
                throw .invalidConfigFile(path: path, key: dotted(context.codingPath), reason: "expected \(describe(type))")
            case .valueNotFound(let type, let context):
                throw .invalidConfigFile(path: path, key: dotted(context.codingPath), reason: "null is not allowed; expected \(describe(type)) or leave the key out")
            case .keyNotFound(let key, let context):
                throw .invalidConfigFile(path: path, key: dotted(context.codingPath + [key]), reason: "missing")
            case .dataCorrupted(let context):
                if context.codingPath.isEmpty {
                    throw .invalidConfigFile(path: path, key: nil, reason: "not valid JSON (\(context.debugDescription))")
                }
                throw .invalidConfigFile(path: path, key: dotted(context.codingPath), reason: context.debugDescription)
            @unknown default:
                throw .invalidConfigFile(path: path, key: nil, reason: "\(error)")
            }
        } catch {
            throw .invalidConfigFile(path: path, key: nil, reason: "\(error)")
        }
    }

    private static func dotted(_ path: [any CodingKey]) -> String? {
        path.isEmpty ? nil : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "a JSON object"
        }
    }
}

/// A coding key for any string, used to see every key actually present in a JSON object.
private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// A keyed container that first rejects keys not in `Key.allCases`.
    func strictContainer<Key: CodingKey & CaseIterable>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let raw = try container(keyedBy: AnyCodingKey.self)
        let known = Set(Key.allCases.map(\.stringValue))
        for key in raw.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) where !known.contains(key.stringValue) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key],
                debugDescription: "unknown key; allowed here: \(Key.allCases.map(\.stringValue).joined(separator: ", "))"))
        }
        return try container(keyedBy: Key.self)
    }
}
