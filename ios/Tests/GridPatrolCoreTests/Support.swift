import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import GridPatrolCore

/// A real camera-style JPEG (480x360, baseline). Foundation on Linux has no image encoder, so the test
/// script writes one with the workspace's `make_jpeg` and names it in GRIDPATROL_TEST_JPEG.
func cameraJpeg() throws -> Data {
    guard let path = ProcessInfo.processInfo.environment["GRIDPATROL_TEST_JPEG"] else {
        throw NSError(domain: "GridPatrolTests", code: 1, userInfo: [
            NSLocalizedDescriptionKey: "GRIDPATROL_TEST_JPEG is not set: run the tests with scripts/test-swift.sh",
        ])
    }
    return try Data(contentsOf: URL(fileURLWithPath: path))
}

/// A report as a worker files it in the demo district (Beijing, Xicheng).
func rubbishReport(lat: Double = 39.9139, lon: Double = 116.3615, photos: [Data] = [], category: String = "06010") -> ReportInput {
    ReportInput(
        category: category, lat: lat, lon: lon, accuracyM: 5.0, address: "府右街 12 号门前",
        description: "路边暴露垃圾约两袋 (two bags of rubbish by the road)", photos: photos)
}

/// A fresh directory under the temporary folder, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gridpatrol-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir.path
}

/// Asserts that `body` throws the `FieldError` that `matches` accepts, and returns its message.
@discardableResult
func assertFieldError<T>(
    _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line,
    _ matches: (FieldError) -> String?
) -> String {
    do {
        _ = try body()
        XCTFail("no error thrown", file: file, line: line)
    } catch let error as FieldError {
        if let message = matches(error) { return message }
        XCTFail("unexpected \(error)", file: file, line: line)
    } catch {
        XCTFail("not a FieldError: \(error)", file: file, line: line)
    }
    return ""
}

/// What a progress view would be told.
final class RecordingListener: SyncListener, @unchecked Sendable {
    private let lock = NSLock()
    private var _phases: [(SyncPhase, UInt64)] = []
    private var _progress: [UInt64] = []
    private var _threads: [Bool] = []
    private let onPhaseStart: (SyncPhase) -> Void

    init(onPhaseStart: @escaping (SyncPhase) -> Void = { _ in }) {
        self.onPhaseStart = onPhaseStart
    }

    var phases: [(SyncPhase, UInt64)] { lock.lock(); defer { lock.unlock() }; return _phases }
    var progress: [UInt64] { lock.lock(); defer { lock.unlock() }; return _progress }
    var calledOnMainThread: Bool { lock.lock(); defer { lock.unlock() }; return _threads.contains(true) }

    func onPhase(phase: SyncPhase, total: UInt64) {
        lock.lock()
        _phases.append((phase, total))
        _threads.append(Thread.isMainThread)
        lock.unlock()
        onPhaseStart(phase)
    }

    func onProgress(done: UInt64) {
        lock.lock()
        _progress.append(done)
        lock.unlock()
    }
}

/// The `gridpatrol-server demo` that scripts/test-swift.sh started on the host, and the desk side of the
/// API (what a dispatcher or a department does at their desk).
struct DemoServer {
    struct NoServer: Error, CustomStringConvertible {
        var description: String {
            "GRIDPATROL_SERVER and GRIDPATROL_DEMO_TOKENS are not set: run the tests with scripts/test-swift.sh"
        }
    }

    struct Token {
        let role: String
        let id: String
        let scope: String
        let department: String?
        let token: String
    }

    let url: String
    let tokens: [Token]

    static func fromEnvironment() throws -> DemoServer {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["GRIDPATROL_SERVER"], let file = env["GRIDPATROL_DEMO_TOKENS"] else {
            throw NoServer()
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file)))
        let rows = json as? [[String: Any]] ?? []
        let tokens = rows.map {
            Token(
                role: $0["role"] as? String ?? "", id: $0["id"] as? String ?? "", scope: $0["scope"] as? String ?? "",
                department: $0["department"] as? String, token: $0["token"] as? String ?? "")
        }
        return DemoServer(url: url, tokens: tokens)
    }

    func token(_ role: String, _ id: String? = nil) throws -> Token {
        try XCTUnwrap(tokens.first { $0.role == role && (id == nil || $0.id == id) }, "no \(role) token")
    }

    func departmentToken(_ department: String) throws -> Token {
        try XCTUnwrap(tokens.first { $0.role == "department" && $0.department == department }, "no desk for \(department)")
    }

    /// A desk action, `POST /api/v1/cases/{id}/actions`.
    func act(_ token: Token, _ caseId: String, _ action: String, note: String? = nil) async throws {
        var body: [String: String] = ["action": action]
        body["note"] = note
        var request = URLRequest(url: URL(string: "\(url)/api/v1/cases/\(caseId)/actions")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token.token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (status, text) = try await send(request)
        XCTAssertEqual(status, 200, "\(action) on \(caseId): \(text)")
    }

    /// The grid cells a device's worker patrols, as GeoJSON.
    func grids(_ token: Token) async throws -> String {
        var request = URLRequest(url: URL(string: "\(url)/api/v1/grids")!)
        request.setValue("Bearer \(token.token)", forHTTPHeaderField: "Authorization")
        let (status, text) = try await send(request)
        XCTAssertEqual(status, 200, text)
        return text
    }

    private func send(_ request: URLRequest) async throws -> (Int, String) {
        try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error = error {
                    continuation.resume(throwing: error)
                } else {
                    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                    continuation.resume(returning: (status, String(decoding: data ?? Data(), as: UTF8.self)))
                }
            }.resume()
        }
    }

    /// A point inside the first cell of a GeoJSON FeatureCollection: the mean of its outline.
    static func pointInFirstCell(_ geojson: String) throws -> (lat: Double, lon: Double) {
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(geojson.utf8)) as? [String: Any])
        let features = try XCTUnwrap(root["features"] as? [[String: Any]])
        let geometry = try XCTUnwrap(features.first?["geometry"] as? [String: Any])
        var polygon = try XCTUnwrap(geometry["coordinates"] as? [Any])
        if geometry["type"] as? String == "MultiPolygon" { polygon = try XCTUnwrap(polygon.first as? [Any]) }
        let ring = try XCTUnwrap(polygon.first as? [[Double]])
        let points = ring.dropLast()
        let lon = points.map { $0[0] }.reduce(0, +) / Double(points.count)
        let lat = points.map { $0[1] }.reduce(0, +) / Double(points.count)
        return (lat, lon)
    }
}
