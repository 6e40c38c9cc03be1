import Foundation
import XCTest
@testable import GridPatrolCore

/// The device against the real server scripts/test-swift.sh runs: enroll, sync both ways, the desk's
/// actions, verification, cancellation. Each test uses its own demo worker (a device token binds to one
/// device).
final class SyncTests: XCTestCase {
    /// A store enrolled as the demo's worker, with that worker's grid cells, and a point inside one.
    private func enrolledStore(_ server: DemoServer, worker: String) async throws -> (FieldStore, (lat: Double, lon: Double)) {
        let store = try FieldStore.create(path: try temporaryDirectory(self) + "/pda", workerId: "unknown-yet")
        let device = try server.token("device", worker)
        let enrolled = try await store.enroll(server: server.url, token: device.token)
        XCTAssertEqual(enrolled.workerId, worker)
        XCTAssertEqual(enrolled.deviceId, try store.info().deviceId)
        XCTAssertEqual(enrolled.cells, [device.scope])
        let grids = try await server.grids(device)
        XCTAssertGreaterThan(try store.importGrids(geojson: grids), 0)
        return (store, try DemoServer.pointInFirstCell(grids))
    }

    func testTheClosedLoopReportSyncDeskActionsVerifyClosed() async throws {
        let server = try DemoServer.fromEnvironment()
        let (store, point) = try await enrolledStore(server, worker: "w-001")
        XCTAssertEqual(try store.info().server, server.url)
        let id = try store.report(input: rubbishReport(lat: point.lat, lon: point.lon, photos: [cameraJpeg()]))
        XCTAssertNotNil(try store.showCase(caseId: id).cell)

        // Up: the report and its photo; down: the demo's cases in this worker's cells.
        let listener = RecordingListener()
        let first = try await store.sync(listener: listener)
        XCTAssertEqual(first.pushed, 1)
        XCTAssertEqual(first.photosUploaded, 2, "the photo and its thumbnail")
        XCTAssertEqual(first.photosFailed, 0)
        XCTAssertGreaterThan(first.newCases, 0, "the demo's cases in w-001's cells arrive")
        XCTAssertEqual(listener.phases.map(\.0), [.cases, .photos])
        XCTAssertEqual(listener.phases.first?.1, 1)
        XCTAssertEqual(listener.progress.last, listener.phases.last?.1, "photo bytes: all sent")
        XCTAssertFalse(listener.calledOnMainThread)
        XCTAssertEqual(try store.showCase(caseId: id).photos.first?.upload, .uploaded)
        XCTAssertEqual(try store.listCases(stage: nil).first { $0.id == id }?.unsynced, false)
        XCTAssertEqual(try store.info().unsynced, 0)

        // The dispatcher registers and dispatches at their desk; the device sees it at the next sync.
        let dispatcher = try server.token("dispatcher")
        try await server.act(dispatcher, id, "register", note: "属实，立案")
        try await server.act(dispatcher, id, "dispatch")
        let second = try await store.sync(listener: RecordingListener())
        XCTAssertGreaterThanOrEqual(second.received, 1)
        let dispatched = try store.showCase(caseId: id)
        XCTAssertEqual(dispatched.stage, .dispatched)
        XCTAssertTrue(try store.listCases(stage: .dispatched).contains { $0.id == id })
        let department = try XCTUnwrap(dispatched.department)
        XCTAssertNotNil(dispatched.deadline)
        XCTAssertEqual(dispatched.timeline.map(\.action), [.report, .register, .dispatch])
        XCTAssertEqual(dispatched.timeline[1].role, .dispatcher)
        XCTAssertEqual(dispatched.timeline[1].note, "属实，立案")

        // The department handles it; the centre asks the reporter to verify on site.
        let desk = try server.departmentToken(department)
        for action in ["accept", "handle", "feedback"] { try await server.act(desk, id, action) }
        try await server.act(dispatcher, id, "request_verification")
        _ = try await store.sync(listener: RecordingListener())
        XCTAssertEqual(try store.showCase(caseId: id).stage, .verificationRequested)
        XCTAssertTrue(try store.tasks().contains { $0.id == id }, "the verification task is on the device")
        XCTAssertEqual(try store.showCase(caseId: id).verifier, "w-001")

        try store.verify(caseId: id, passed: true, note: "已清理干净 cleared", photos: [cameraJpeg()])
        XCTAssertEqual(try store.showCase(caseId: id).stage, .verified)
        XCTAssertFalse(try store.tasks().contains { $0.id == id })
        let pushed = try await store.sync(listener: RecordingListener())
        XCTAssertEqual(pushed.pushed, 1)
        // The server closes a verified case in the sync that brought the verification.
        let closed = try store.showCase(caseId: id)
        XCTAssertEqual(closed.stage, .closed)
        XCTAssertEqual(closed.timeline.last?.action, .close)
        XCTAssertEqual(closed.timeline.last?.role, .system)
        XCTAssertFalse(closed.timeline.contains { $0.flagged })
    }

    func testASyncStopsWhenCancelledKeepsWhatWasRecordedAndTheNextOneCompletes() async throws {
        let server = try DemoServer.fromEnvironment()
        let (store, point) = try await enrolledStore(server, worker: "w-002")
        let id = try store.report(input: rubbishReport(lat: point.lat, lon: point.lon))

        // cancelSync() from the progress listener, as a Cancel button would.
        do {
            _ = try await store.sync(listener: RecordingListener { _ in store.cancelSync() })
            XCTFail("the sync was not cancelled")
        } catch FieldError.Cancelled(let message) {
            XCTAssertTrue(message.contains("同步已取消"), message)
        }
        XCTAssertEqual(try store.listCases(stage: nil).first { $0.id == id }?.unsynced, true)

        // Swift's Task cancellation reaches the sync through cancelSync (uniffi's Swift bindings do not
        // pass it on themselves): the idiom the README shows.
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let task = Task {
            try await withTaskCancellationHandler {
                // The listener holds the sync at its first step, as a slow network would.
                try await store.sync(listener: RecordingListener { _ in
                    entered.signal()
                    _ = release.wait(timeout: .now() + 10)
                })
            } onCancel: {
                store.cancelSync()
            }
        }
        while entered.wait(timeout: .now()) == .timedOut { try await Task.sleep(nanoseconds: 10_000_000) }
        task.cancel()
        release.signal()
        do {
            _ = try await task.value
            XCTFail("the sync was not cancelled")
        } catch FieldError.Cancelled {
        }
        XCTAssertEqual(try store.info().unsynced, 1)

        // A cancel pressed when no sync runs does not stop the next one.
        store.cancelSync()
        let summary = try await store.sync(listener: RecordingListener())
        XCTAssertEqual(summary.pushed, 1)
        XCTAssertEqual(try store.info().unsynced, 0)
    }

    func testABadTokenIsRefusedAndADeadServerIsUnreachableWithEverythingKept() async throws {
        let server = try DemoServer.fromEnvironment()
        let store = try FieldStore.create(path: try temporaryDirectory(self) + "/pda", workerId: "w-x")
        let id = try store.report(input: rubbishReport())
        do {
            _ = try await store.enroll(server: server.url, token: "gpd_not-a-token")
            XCTFail("a bad token was accepted")
        } catch FieldError.TokenInvalid(let message) {
            XCTAssertTrue(message.contains("401"), message)
            XCTAssertTrue(message.contains("enroll again"), message)
        }
        do {
            _ = try await store.enroll(server: "http://127.0.0.1:9", token: "gpd_whatever")
            XCTFail("a dead server answered")
        } catch FieldError.Unreachable(let message) {
            XCTAssertTrue(message.contains("服务器无法连接"), message)
        }
        XCTAssertEqual(try store.listCases(stage: nil).map(\.id), [id])
        XCTAssertNil(try store.info().server)
    }
}
