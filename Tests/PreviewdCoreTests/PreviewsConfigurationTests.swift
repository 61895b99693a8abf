import Foundation
import Testing
@testable import PreviewdCore

/// `previews.*` in `config/previewd.json` and their environment variables.
@Suite("Preview lifetimes and cap configuration")
struct PreviewsConfigurationTests {
    private func load(_ env: [String: String], file: String? = nil) throws(ConfigurationError) -> PreviewdConfiguration {
        let directory = (try? makeTemporaryDirectory()) ?? "/nonexistent"
        var env = env
        if let file {
            let path = directory + "/previewd.json"
            _ = FileManager.default.createFile(atPath: path, contents: Data(file.utf8))
            env["PREVIEWD_CONFIG"] = path
        }
        return try PreviewdConfiguration.load(environment: env, currentDirectory: directory)
    }

    @Test("defaults: a day to live, extensions up to a week, 10 live previews per repository, cleanup every minute, niceness 10")
    func defaults() throws {
        let previews = try load([:]).previews
        #expect(previews == .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60)))
        #expect(previews.niceness == 10)
    }

    struct EnvCase: Sendable, CustomStringConvertible {
        var env: [String: String]
        var expected: PreviewdConfiguration.Previews
        var description: String { env.description }
    }

    @Test("environment variables", arguments: [
        EnvCase(env: ["PREVIEWD_PREVIEW_TTL": "2h"], expected: .init(ttl: .seconds(7_200), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60))),
        EnvCase(env: ["PREVIEWD_PREVIEW_TTL": "1d"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60))),
        EnvCase(env: ["PREVIEWD_PREVIEW_TTL": "5400"], expected: .init(ttl: .seconds(5_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60))),
        EnvCase(env: ["PREVIEWD_MAX_PREVIEWS_PER_REPO": "3"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 3, cleanupInterval: .seconds(60))),
        EnvCase(env: ["PREVIEWD_MAX_PREVIEWS_PER_REPO": "0"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: nil, cleanupInterval: .seconds(60))),
        EnvCase(env: ["PREVIEWD_CLEANUP_INTERVAL": "5m"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(300))),
        EnvCase(env: ["PREVIEWD_CLEANUP_INTERVAL": "0"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: nil)),
        EnvCase(env: ["PREVIEWD_PREVIEW_NICENESS": "0"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60), niceness: 0)),
        EnvCase(env: ["PREVIEWD_PREVIEW_NICENESS": "19"], expected: .init(ttl: .seconds(86_400), maxExtension: .seconds(604_800), maxLivePerRepository: 10, cleanupInterval: .seconds(60), niceness: 19)),
    ])
    func environment(_ example: EnvCase) throws {
        #expect(try load(example.env).previews == example.expected)
    }

    @Test("bad values name the variable and what it takes", arguments: [
        ("PREVIEWD_PREVIEW_TTL", "30s", "from 1m to 30d"),
        ("PREVIEWD_PREVIEW_TTL", "31d", "from 1m to 30d"),
        ("PREVIEWD_PREVIEW_TTL", "soon", "from 1m to 30d"),
        ("PREVIEWD_MAX_PREVIEWS_PER_REPO", "-1", "0 (no cap) to 10000"),
        ("PREVIEWD_MAX_PREVIEWS_PER_REPO", "many", "0 (no cap) to 10000"),
        ("PREVIEWD_CLEANUP_INTERVAL", "2d", "at most 1d"),
        ("PREVIEWD_PREVIEW_NICENESS", "20", "from 0 (previewd's own priority) to 19"),
        ("PREVIEWD_PREVIEW_NICENESS", "-5", "from 0 (previewd's own priority) to 19"),
        ("PREVIEWD_PREVIEW_NICENESS", "low", "from 0 (previewd's own priority) to 19"),
    ])
    func badValues(_ variable: String, _ value: String, _ fragment: String) {
        do {
            _ = try load([variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch {
            #expect(error.description.contains(variable) && error.description.contains(fragment), "\(error.description)")
        }
    }

    @Test("the JSON file sets them, and the environment wins over it")
    func file() throws {
        let json = #"{"previews": {"ttlSeconds": 3600, "maxExtensionSeconds": 7200, "maxLivePerRepository": 2, "cleanupIntervalSeconds": 30, "niceness": 5}}"#
        #expect(try load([:], file: json).previews
            == .init(ttl: .seconds(3_600), maxExtension: .seconds(7_200), maxLivePerRepository: 2, cleanupInterval: .seconds(30), niceness: 5))
        #expect(try load(["PREVIEWD_PREVIEW_TTL": "2h"], file: json).previews.ttl == .seconds(7_200))
        #expect(try load(["PREVIEWD_PREVIEW_NICENESS": "0"], file: json).previews.niceness == 0)
        do {
            _ = try load([:], file: #"{"previews": {"niceness": 25}}"#)
            Issue.record("a niceness of 25 was accepted")
        } catch {
            #expect(error.description.contains("previews.niceness"), "\(error.description)")
        }
        do {
            _ = try load([:], file: #"{"previews": {"ttl": 3600}}"#)
            Issue.record("an unknown key was accepted")
        } catch {
            #expect(error.description.contains("previews.ttl"), "\(error.description)")
        }
        do {
            _ = try load([:], file: #"{"previews": {"ttlSeconds": 10}}"#)
            Issue.record("a TTL of 10 s was accepted")
        } catch {
            #expect(error.description.contains("previews.ttlSeconds"), "\(error.description)")
        }
    }
}
