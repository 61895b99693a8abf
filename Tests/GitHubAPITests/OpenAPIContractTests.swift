import Foundation
import PreviewdTesting
import Testing

@Suite struct OpenAPIContractTests {
    static let contract: OpenAPIContract = {
        do { return try OpenAPIContract.gitHubSubset() } catch { fatalError("cannot load the GitHub fixture: \(error)") }
    }()

    @Test func theSubsetHasItsEighteenOperations() {
        #expect(Self.contract.operations.count == 18)
    }

    @Test(arguments: [
        ("GET", "/repos/octo/hello/branches/feature/login", "GET /repos/{owner}/{repo}/branches/{branch}", "branch", "feature/login"),
        ("GET", "/repos/octo/hello/contents/src/app/main.swift", "GET /repos/{owner}/{repo}/contents/{path}", "path", "src/app/main.swift"),
        ("GET", "/repos/octo/hello/commits/release/1.0/check-runs", "GET /repos/{owner}/{repo}/commits/{ref}/check-runs", "ref", "release/1.0"),
        ("POST", "/app/hook/deliveries/12/attempts", "POST /app/hook/deliveries/{delivery_id}/attempts", "delivery_id", "12"),
        ("GET", "/repos/octo/hello", "GET /repos/{owner}/{repo}", "repo", "hello"),
        ("GET", "/repos/octo/hello/contents/a%20b.txt", "GET /repos/{owner}/{repo}/contents/{path}", "path", "a b.txt"),
    ])
    func pathsMatchTheirTemplates(method: String, path: String, operation: String, parameter: String, value: String) throws {
        let match = try #require(Self.contract.match(method: method, path: path))
        #expect(match.operation.key == operation)
        #expect(match.parameters[parameter] == value)
    }

    @Test func aCheckRunWithoutHeadSHAIsAViolation() {
        let body = Data(#"{"name":"preview"}"#.utf8)
        let check = Self.contract.validateRequest(method: "POST", path: "/repos/octo/hello/check-runs", query: [], body: body)
        #expect(check.violations.map(\.location) == ["$.head_sha"])
        #expect(check.violations.first?.message == "required property is missing")
    }

    @Test func aCompletedCheckRunNeedsAConclusion() {
        let body = Data(#"{"name":"preview","head_sha":"abc","status":"completed"}"#.utf8)
        let check = Self.contract.validateRequest(method: "POST", path: "/repos/octo/hello/check-runs", query: [], body: body)
        #expect(check.violations.count == 1)
        #expect(check.violations.first?.message.contains("oneOf") == true)
    }

    @Test(arguments: [
        (#"{"name":"p","head_sha":"a","output":{"title":"t"}}"#, "$.output.summary"),
        (#"{"name":"p","head_sha":"a","conclusion":"great"}"#, "$.conclusion"),
        (#"{"name":"p","head_sha":7}"#, "$.head_sha"),
        (#"{"name":"p","head_sha":"a","actions":[{"label":"a","identifier":"b"}]}"#, "$.actions[0].description"),
        (#"{"name":"p","head_sha":"a","actions":[{"label":"123456789012345678901","description":"d","identifier":"b"}]}"#, "$.actions[0].label"),
    ])
    func badCheckRunBodiesAreFound(body: String, location: String) {
        let check = Self.contract.validateRequest(method: "POST", path: "/repos/octo/hello/check-runs", query: [], body: Data(body.utf8))
        #expect(check.violations.map(\.location).contains(location), "\(check.violations)")
    }

    @Test func validBodiesPass() {
        let bodies = [
            #"{"name":"preview","head_sha":"abc","status":"in_progress","output":{"title":"t","summary":"s"}}"#,
            #"{"name":"preview","head_sha":"abc","status":"completed","conclusion":"success"}"#,
            #"{"name":"preview","head_sha":"abc","conclusion":"failure"}"#,
        ]
        for body in bodies {
            let check = Self.contract.validateRequest(method: "POST", path: "/repos/octo/hello/check-runs", query: [], body: Data(body.utf8))
            #expect(check.violations.isEmpty, "\(body): \(check.violations)")
        }
    }

    @Test func parametersAndUnknownOperationsAreChecked() {
        let unknown = Self.contract.validateRequest(method: "DELETE", path: "/repos/octo/hello", query: [], body: nil)
        #expect(unknown.operation == nil)
        #expect(unknown.violations.count == 1)

        let badID = Self.contract.validateRequest(method: "PATCH", path: "/repos/octo/hello/check-runs/abc", query: [], body: Data(#"{"name":"x"}"#.utf8))
        #expect(badID.violations.map(\.location) == ["path.check_run_id"])

        let badQuery = Self.contract.validateRequest(method: "GET", path: "/app/hook/deliveries", query: [("per_page", "x"), ("colour", "red")], body: nil)
        #expect(Set(badQuery.violations.map(\.location)) == ["query.per_page", "query.colour"])

        let bodyWhereNoneIsTaken = Self.contract.validateRequest(method: "POST", path: "/app/hook/deliveries/1/attempts", query: [], body: Data("{}".utf8))
        #expect(bodyWhereNoneIsTaken.violations.map(\.location) == ["body"])
    }

    @Test func theFlyDescriptionLoadsWithTheSameChecker() throws {
        let fly = try OpenAPIContract.flyMachines()
        #expect(fly.operations.count == 34)
    }
}
