import Foundation
import XCTest
@testable import GridPatrolCore

/// The store on its own, offline, as the app uses it between syncs.
final class FieldStoreTests: XCTestCase {
    private func newStore() throws -> (FieldStore, String) {
        let path = try temporaryDirectory(self) + "/store"
        return (try FieldStore.create(path: path, workerId: "w-test"), path)
    }

    func testAReportWithACameraJpegIsRecordedListedAndShown() throws {
        let (store, _) = try newStore()
        let id = try store.report(input: rubbishReport(photos: [cameraJpeg()]))

        let list = try store.listCases(stage: nil)
        XCTAssertEqual(list.map(\.id), [id])
        let row = try XCTUnwrap(list.first)
        XCTAssertEqual(row.stage, .reported)
        XCTAssertEqual(row.category.code, "06010")
        XCTAssertFalse(row.category.name.isEmpty)
        XCTAssertEqual(row.photoCount, 1)
        XCTAssertTrue(row.unsynced)
        XCTAssertEqual(try store.listCases(stage: .reported).map(\.id), [id])
        XCTAssertTrue(try store.listCases(stage: .closed).isEmpty)

        let detail = try store.showCase(caseId: id)
        XCTAssertEqual(detail.reporter, "w-test")
        XCTAssertEqual(detail.stage, .reported)
        XCTAssertEqual(detail.lat, 39.9139, accuracy: 1e-9)
        XCTAssertEqual(detail.accuracyM, 5.0)
        XCTAssertEqual(detail.address, "府右街 12 号门前")
        let photo = try XCTUnwrap(detail.photos.first)
        XCTAssertEqual(detail.photos.count, 1)
        XCTAssertEqual(photo.width, 480)
        XCTAssertEqual(photo.height, 360)
        XCTAssertEqual(photo.upload, .pending)
        XCTAssertEqual(photo.upload?.labelZh(), "待上传")
        // The device keeps the photo (EXIF stripped, re-encoded) and its thumbnail, both JPEGs.
        let full = try XCTUnwrap(try store.photo(sha256: photo.sha256))
        let thumb = try XCTUnwrap(try store.photo(sha256: photo.thumbSha256))
        XCTAssertEqual(Array(full.prefix(2)), [0xFF, 0xD8])
        XCTAssertLessThan(thumb.count, full.count)
        XCTAssertNil(try store.photo(sha256: String(repeating: "0", count: 64)))

        let report = try XCTUnwrap(detail.timeline.first)
        XCTAssertEqual(detail.timeline.count, 1)
        XCTAssertEqual(report.action, .report)
        XCTAssertEqual(report.role, .gridWorker)
        XCTAssertEqual(report.actor, "w-test")
        XCTAssertFalse(report.flagged)
        XCTAssertEqual(report.attachments, [photo.sha256])
        XCTAssertEqual(Stage.reported.labelZh(), "已上报")
        XCTAssertEqual(Stage.verificationRequested.code(), "verification_requested")
    }

    func testAttachingAPhotoAddsEvidenceOnce() throws {
        let (store, _) = try newStore()
        let id = try store.report(input: rubbishReport())
        let added = try store.attachPhoto(caseId: id, photo: cameraJpeg(), note: "清运前 before")
        XCTAssertEqual(added.addedBy, "w-test")
        XCTAssertEqual(added.upload, .pending)
        let again = try store.attachPhoto(caseId: id, photo: cameraJpeg(), note: nil)
        XCTAssertEqual(again.sha256, added.sha256)

        let detail = try store.showCase(caseId: id)
        XCTAssertEqual(detail.photos.map(\.sha256), [added.sha256])
        XCTAssertEqual(detail.timeline.map(\.action), [.report, .addEvidence])
        XCTAssertEqual(detail.timeline.last?.note, "清运前 before")
    }

    func testBadInputIsATypedErrorAndWritesNothing() throws {
        let (store, _) = try newStore()
        let unknown = assertFieldError(try store.report(input: rubbishReport(category: "99999"))) {
            if case .InvalidInput(let message) = $0 { return message } else { return nil }
        }
        XCTAssertTrue(unknown.contains("未知的案件类别"), unknown)

        let latitude = assertFieldError(try store.report(input: rubbishReport(lat: 91))) {
            if case .InvalidInput(let message) = $0 { return message } else { return nil }
        }
        XCTAssertTrue(latitude.contains("latitude 91"), latitude)

        let corrupt = try cameraJpeg().prefix(600)
        assertFieldError(try store.report(input: rubbishReport(photos: [Data(corrupt)]))) {
            if case .Photo(let message) = $0 { return message } else { return nil }
        }
        assertFieldError(try store.report(input: rubbishReport(photos: [Data("not a photo".utf8)]))) {
            if case .Photo(let message) = $0 { return message } else { return nil }
        }
        var tooLong = rubbishReport()
        tooLong.description = String(repeating: "长", count: 2001)
        assertFieldError(try store.report(input: tooLong)) {
            if case .InvalidInput(let message) = $0 { return message } else { return nil }
        }
        XCTAssertTrue(try store.listCases(stage: nil).isEmpty, "a refused report must leave nothing behind")

        let id = try store.report(input: rubbishReport())
        assertFieldError(try store.attachPhoto(caseId: id, photo: Data(corrupt), note: nil)) {
            if case .Photo(let message) = $0 { return message } else { return nil }
        }
        XCTAssertEqual(try store.showCase(caseId: id).timeline.count, 1)
    }

    func testUnknownCasesStoresAndActionsHaveTheirOwnErrors() async throws {
        let (store, path) = try newStore()
        assertFieldError(try store.showCase(caseId: "not-a-case-id")) {
            if case .InvalidInput(let message) = $0 { return message } else { return nil }
        }
        assertFieldError(try store.showCase(caseId: "0190b6a4-0000-7000-8000-000000000000")) {
            if case .NotFound(let message) = $0 { return message } else { return nil }
        }
        let id = try store.report(input: rubbishReport())
        // Only a case waiting for verification can be verified.
        assertFieldError(try store.verify(caseId: id, passed: true, note: nil, photos: [])) {
            if case .NotAllowed(let message) = $0 { return message } else { return nil }
        }
        XCTAssertTrue(try store.tasks().isEmpty)
        do {
            _ = try await store.sync(listener: RecordingListener())
            XCTFail("sync before enroll")
        } catch FieldError.NotEnrolled(let message) {
            XCTAssertTrue(message.contains("enroll"), message)
        }
        assertFieldError(try FieldStore.open(path: path + "-nowhere")) {
            if case .NotFound(let message) = $0 { return message } else { return nil }
        }
        // A store already there (created, then released at once): creating it again is refused.
        let other = try temporaryDirectory(self) + "/other"
        _ = try FieldStore.create(path: other, workerId: "w-2")
        assertFieldError(try FieldStore.create(path: other, workerId: "w-2")) {
            if case .InvalidInput(let message) = $0 { return message } else { return nil }
        }
    }

    func testReleasingTheLastReferenceClosesTheStoreAtOnce() throws {
        let path = try temporaryDirectory(self) + "/store"
        var first: FieldStore? = try FieldStore.create(path: path, workerId: "w-test")
        let id = try first!.report(input: rubbishReport())
        assertFieldError(try FieldStore.open(path: path)) {
            if case .StoreInUse(let message) = $0 { return message } else { return nil }
        }
        first = nil  // deinit frees the Rust object, which releases the directory
        let again = try FieldStore.open(path: path)
        XCTAssertEqual(try again.listCases(stage: nil).map(\.id), [id])
        let info = try again.info()
        XCTAssertEqual(info.workerId, "w-test")
        XCTAssertTrue(info.deviceId.hasPrefix("dev-"))
        XCTAssertNil(info.server)
        XCTAssertEqual(info.unsynced, 1)
    }
}
