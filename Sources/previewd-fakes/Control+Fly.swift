import Foundation
import HTTPServer
import HTTPTypes
import PreviewdTesting

/// The fake Fly's part of the control API: what it holds, what broke its contract, and faults to inject.
extension Fakes {
    func addFlyRoutes(to router: inout Router) {
        router.add(.get, "/fly/apps") { [self] _ in
            let apps = fly.appNames.map { name -> JSONValue in
                let machines = fly.machines(in: name).map { machine -> JSONValue in
                    ["id": .string(machine.id), "state": .string(machine.state), "region": .string(machine.region),
                     "image": machine.config["image"] ?? .null, "env": machine.config["env"] ?? .object([:])]
                }
                return ["name": .string(name), "organization": fly.organization(ofApp: name).map(JSONValue.string) ?? .null,
                        "machines": .array(machines), "secrets": .array(fly.secrets(of: name).keys.sorted().map(JSONValue.string))]
            }
            return .json(200, JSONValue.array(apps).encoded())
        }
        router.add(.get, "/fly/violations") { [self] _ in
            .json(200, JSONValue.array(fly.contractViolations.map { .string($0.description) }).encoded())
        }
        router.add(.get, "/fly/summary") { [self] _ in
            var byStatus: [String: JSONValue] = [:]
            let requests = fly.recordedRequests
            for request in requests {
                byStatus[String(request.status)] = .integer((byStatus[String(request.status)]?.integerValue ?? 0) + 1)
            }
            let summary: JSONValue = [
                "requests": .integer(Int64(requests.count)), "by_status": .object(byStatus),
                "unauthorized": .integer(Int64(fly.unauthorizedRequests)),
                "violations": .integer(Int64(fly.contractViolations.count)),
            ]
            return .json(200, summary.encoded())
        }
        router.add(.post, "/fly/faults") { [self] request in
            guard let body = try? JSONValue(parsing: request.body) else { return .json(400, Data(#"{"error":"expected a JSON object"}"#.utf8)) }
            let times = Int(body["times"]?.integerValue ?? 1)
            let matching = body["matching"]?.stringValue
            let fault: FakeFly.Fault
            if let status = body["status"]?.integerValue {
                fault = .status(Int(status))
            } else if let retryAfter = body["rate_limited"]?.integerValue {
                fault = .rateLimited(retryAfter: Int(retryAfter))
            } else if body["connection_failure"]?.boolValue == true {
                fault = .connectionFailure
            } else {
                return .json(400, Data(#"{"error":"give \"status\", \"rate_limited\" or \"connection_failure\""}"#.utf8))
            }
            fly.injectFault(fault, times: times, matching: matching)
            let answer: JSONValue = ["injected": .integer(Int64(times))]
            return .json(200, answer.encoded())
        }
        router.add(.post, "/fly/preview-status") { [self] request in
            // {"status": 502} makes every preview app answer 502; {"status": null} restores normal answers.
            guard let body = try? JSONValue(parsing: request.body) else { return .json(400, Data(#"{"error":"expected a JSON object"}"#.utf8)) }
            fly.setPreviewStatus(body["status"]?.integerValue.map(Int.init))
            return .json(200, Data("{}".utf8))
        }
    }
}
