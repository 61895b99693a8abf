import HTTPTypes
import Testing
@testable import HTTPServer

@Suite("Router")
struct RouterTests {
    private static func router() -> Router {
        var router = Router()
        let ok: Router.Handler = { _ in .text(200, "ok") }
        router.add(.get, "/api/v1/sessions/new", ok)
        router.add(.get, "/api/v1/sessions/:id", ok)
        router.add(.delete, "/api/v1/sessions/:id", ok)
        router.add(.get, "/api/v1/sessions/:id/steps/:step/logs", ok)
        router.add(.post, "/webhooks/github", maxBodyBytes: 1024, ok)
        router.add(.get, "/static/*", ok)
        router.add(.get, "/", ok)
        return router
    }

    @Test(arguments: [
        ("GET", "/api/v1/sessions/new", [String: String]()),
        ("GET", "/api/v1/sessions/42", ["id": "42"]),
        ("DELETE", "/api/v1/sessions/42", ["id": "42"]),
        ("GET", "/api/v1/sessions/a%20b%2Fc/steps/build%3A1/logs", ["id": "a b/c", "step": "build:1"]),
        ("HEAD", "/api/v1/sessions/7", ["id": "7"]),
        ("GET", "/static", ["*": ""]),
        ("GET", "/static/", ["*": ""]),
        ("GET", "/static/css/site%20main.css", ["*": "css/site main.css"]),
        ("GET", "/", [:]),
        ("POST", "/webhooks/github", [:]),
    ])
    func matches(method: String, path: String, parameters: [String: String]) throws {
        guard case .found(_, let found) = Self.router().match(method: HTTPMethod(rawValue: method), path: path) else {
            Issue.record("\(method) \(path) did not match")
            return
        }
        #expect(found == parameters)
    }

    @Test(arguments: ["/nope", "/api/v1/sessions", "/api/v1/sessions/1/steps", "/statics", "/webhooks/github/x"])
    func unknownPathsAreNotFound(path: String) {
        guard case .notFound = Self.router().match(method: .get, path: path) else {
            Issue.record("\(path) should be unknown")
            return
        }
    }

    @Test func wrongMethodListsAllowedMethods() {
        guard case .methodNotAllowed(let allowed) = Self.router().match(method: .post, path: "/api/v1/sessions/1") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == [.delete, .get, .head])
    }

    @Test func routeBodyLimitIsKept() {
        guard case .found(let route, _) = Self.router().match(method: .post, path: "/webhooks/github") else {
            Issue.record("expected a match")
            return
        }
        #expect(route.maxBodyBytes == 1024)
    }

    @Test(arguments: [
        ("/a", "/a", [(String, String)]()),
        ("/a?x=1&y=a%20b&x=2", "/a", [("x", "1"), ("y", "a b"), ("x", "2")]),
        ("/a%2Fb?q=1+2&flag&e=%E2%9C%93", "/a%2Fb", [("q", "1 2"), ("flag", ""), ("e", "✓")]),
        ("http://example.com/p?k=v", "/p", [("k", "v")]),
        ("/a?bad=%zz", "/a", [("bad", "%zz")]),
    ])
    func splitsRequestTargets(uri: String, path: String, query: [(String, String)]) {
        let split = ServerCore.split(uri: uri)
        #expect(split.path == path)
        #expect(split.query.map(\.name) == query.map(\.0))
        #expect(split.query.map(\.value) == query.map(\.1))
    }
}
