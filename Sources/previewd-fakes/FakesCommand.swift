import Foundation
import GitHubAPI
import HTTPServer
import HTTPTypes
import PreviewdCrypto
import PreviewdLogging
import PreviewdTesting

/// `previewd-fakes`: the fake GitHub (and fake Fly) as a process of its own, for scripts that run real
/// `previewd serve` processes (the fault suite, the end-to-end benchmark).
///
/// It creates a GitHub App key, a local git repository for `octo/site` holding a small static site, serves
/// the fakes on loopback ports and a control API on a third, writes what a script needs to `<dir>/fakes.json`,
/// and runs until SIGTERM or SIGINT.
enum FakesCommand {
    static let usage = """
        usage: previewd-fakes --dir DIR [--fly-token TOKEN]

        Serves the fake GitHub and the fake Fly Machines API on loopback ports, backed by a git repository
        created under DIR, and a control API. Writes DIR/fakes.json (ports, key path, clone URL) once ready.

        Control API (JSON):
          GET  /info                 what fakes.json holds
          GET  /check-runs           every check run as the fake stores it (id, name, head_sha, status, conclusion, external_id, details_url)
          GET  /comments             every issue comment as the fake stores it (id, issue_number, body)
          GET  /reactions            every reaction previewd added to a comment (comment_id, content)
          GET  /events[?since=N]     every request the fake GitHub answered (after the first N), with its time (unix seconds)
          GET  /violations           contract violations seen so far
          GET  /summary              counts: requests, by status, check runs, violations
          POST /faults               {"status": 503, "times": 2, "matching": "POST /repos"}, {"rate_limited": 1, "times": 1},
                                     or {"after_apply_status": 502, "matching": "POST /repos"} (the write happens, the answer fails)
          POST /commit               {"branch": "b1", "files": {"index.html": "..."}} -> {"sha": "..."}
          POST /payloads/push        {"branch": "b1", "sha": "...", "deleted": false} -> a push webhook payload
          POST /payloads/pull_request {"action": "opened"|"synchronize"|"closed", "number": 5, "branch": "b1", "sha": "..."}
                                     -> a pull_request webhook payload; the fake's pull request #5 follows the action
          POST /payloads/issue_comment {"number": 5, "body": "/preview destroy", "login": "alice"}
                                     -> an issue_comment webhook payload on pull request #5 by a collaborator with write access
          GET  /fly/apps             the fake Fly's apps: name, organization, live machines (id, state, region, image, env), secret names
          GET  /fly/violations       Fly contract violations seen so far
          GET  /fly/summary          Fly counts: requests, by status, unauthorized, violations
          POST /fly/faults           {"status": 503, "times": 2, "matching": "POST /apps"}, {"rate_limited": 1}, {"connection_failure": true}
          POST /fly/preview-status   {"status": 502} makes preview apps answer 502; {"status": null} restores them
        """

    struct Options {
        var directory: URL
        var flyToken = "fly-fake-token"
    }

    static func parse(_ arguments: [String]) -> Options? {
        var directory: URL?
        var flyToken: String?
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--dir": directory = iterator.next().map { URL(fileURLWithPath: $0, isDirectory: true) }
            case "--fly-token": flyToken = iterator.next()
            default: return nil
            }
        }
        guard let directory else { return nil }
        var options = Options(directory: directory)
        if let flyToken { options.flyToken = flyToken }
        return options
    }

    static func main(arguments: [String]) async -> Int32 {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            return 0
        }
        guard let options = parse(arguments) else {
            FileHandle.standardError.write(Data("previewd-fakes: bad arguments\n\(usage)\n".utf8))
            return 64
        }
        do {
            let signals = ShutdownSignal()
            let fakes = try await Fakes.start(options: options)
            _ = await signals.wait()
            await fakes.stop()
            return 0
        } catch {
            FileHandle.standardError.write(Data("previewd-fakes: \(error)\n".utf8))
            return 1
        }
    }
}
