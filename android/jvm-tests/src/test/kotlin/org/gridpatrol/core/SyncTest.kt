package org.gridpatrol.core

import java.nio.file.Path
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/** What a progress bar would be told. */
class RecordingListener(
    private val onPhaseStart: (SyncPhase) -> Unit = {},
) : SyncListener {
    val phases = CopyOnWriteArrayList<Pair<SyncPhase, ULong>>()
    val progress = CopyOnWriteArrayList<ULong>()
    val threads = CopyOnWriteArrayList<String>()

    override fun onPhase(phase: SyncPhase, total: ULong) {
        threads.add(Thread.currentThread().name)
        phases.add(phase to total)
        onPhaseStart(phase)
    }

    override fun onProgress(done: ULong) {
        progress.add(done)
    }
}

/** The device against a real server: enroll, sync both ways, the desk's actions, verification. */
class SyncTest {
    companion object {
        private lateinit var server: DemoServer

        @BeforeAll
        @JvmStatic
        fun startServer() {
            server = DemoServer.start()
        }

        @AfterAll
        @JvmStatic
        fun stopServer() {
            server.close()
        }
    }

    @TempDir
    lateinit var dir: Path

    /** A store enrolled as the demo's worker, with that worker's grid cells, and a point inside one. */
    private suspend fun enrolledStore(worker: String): Pair<FieldStore, Pair<Double, Double>> {
        val store = FieldStore.create(dir.resolve("pda-$worker").toString(), "unknown-yet")
        val device = server.token("device", worker)
        val enrolled = store.enroll(server.url, device.token)
        assertEquals(worker, enrolled.workerId)
        assertEquals(store.info().deviceId, enrolled.deviceId)
        assertEquals(listOf(device.scope), enrolled.cells)
        val grids = server.grids(device)
        assertTrue(store.importGrids(grids) > 0u)
        return store to DemoServer.pointInFirstCell(grids)
    }

    @Test
    fun `the closed loop - report offline, sync, desk actions arrive, verify on site, closed`() = runBlocking {
        val (store, point) = enrolledStore("w-001")
        store.use {
            assertEquals(server.url, store.info().server)
            assertEquals("w-001", store.info().workerId)
            val id = store.report(rubbishReport(point.first, point.second, photos = listOf(cameraJpeg())))
            assertNotNull(store.showCase(id).cell)

            // Up: the report and its photo; down: the demo's cases in this worker's cells.
            val listener = RecordingListener()
            val first = store.sync(listener)
            assertEquals(1u, first.pushed)
            assertEquals(2u, first.photosUploaded, "the photo and its thumbnail")
            assertEquals(0u, first.photosFailed)
            assertTrue(first.newCases > 0u, "the demo's cases in w-001's cells arrive")
            assertTrue(first.bytesSent > 0uL && first.bytesReceived > 0uL)
            assertEquals(listOf(SyncPhase.CASES, SyncPhase.PHOTOS), listener.phases.map { it.first })
            assertEquals(1uL, listener.phases[0].second)
            assertEquals(listener.phases[1].second, listener.progress.last(), "photo bytes: all sent")
            val caller = Thread.currentThread().name
            assertTrue(listener.threads.none { it == caller }, "the sync runs off the caller's thread")
            val synced = store.showCase(id)
            assertEquals(UploadState.UPLOADED, synced.photos.single().upload)
            assertFalse(store.listCases(null).first { it.id == id }.unsynced)
            assertEquals(0uL, store.info().unsynced)

            // The dispatcher registers and dispatches at their desk; the device sees it at the next sync.
            val dispatcher = server.token("dispatcher")
            server.act(dispatcher, id, "register", "属实，立案")
            server.act(dispatcher, id, "dispatch")
            val second = store.sync(RecordingListener())
            assertTrue(second.received >= 1u)
            val dispatched = store.showCase(id)
            assertEquals(Stage.DISPATCHED, dispatched.stage)
            assertTrue(store.listCases(Stage.DISPATCHED).any { it.id == id })
            assertTrue(store.listCases(Stage.REPORTED).none { it.id == id })
            val department = checkNotNull(dispatched.department)
            assertNotNull(dispatched.deadline)
            assertEquals(
                listOf(CaseAction.REPORT, CaseAction.REGISTER, CaseAction.DISPATCH),
                dispatched.timeline.map { it.action },
            )
            assertEquals(Role.DISPATCHER, dispatched.timeline[1].role)
            assertEquals("属实，立案", dispatched.timeline[1].note)

            // The department handles it; the centre asks the reporter to verify on site.
            val desk = server.departmentToken(department)
            for (action in listOf("accept", "handle", "feedback")) server.act(desk, id, action)
            server.act(dispatcher, id, "request_verification")
            store.sync(RecordingListener())
            assertEquals(Stage.VERIFICATION_REQUESTED, store.showCase(id).stage)
            assertTrue(store.tasks().any { it.id == id }, "the verification task is on the device")
            assertEquals("w-001", store.showCase(id).verifier)

            store.verify(id, true, "已清理干净 cleared", listOf(cameraJpeg(seed = 3)))
            assertEquals(Stage.VERIFIED, store.showCase(id).stage)
            assertTrue(store.tasks().none { it.id == id })
            val pushed = store.sync(RecordingListener())
            assertEquals(1u, pushed.pushed)
            assertEquals(2u, pushed.photosUploaded)
            // The server closes a verified case in the sync that brought the verification.
            val closed = store.showCase(id)
            assertEquals(Stage.CLOSED, closed.stage)
            assertEquals(CaseAction.CLOSE, closed.timeline.last().action)
            assertEquals(Role.SYSTEM, closed.timeline.last().role)
            assertTrue(closed.timeline.none { it.flagged })
        }
    }

    @Test
    fun `a sync stops when cancelled, keeps what was recorded, and the next sync completes`() = runBlocking {
        val (store, point) = enrolledStore("w-002")
        store.use {
            val id = store.report(rubbishReport(point.first, point.second))

            // cancelSync() from the progress listener, as a Cancel button would.
            val cancelled = assertThrows<FieldException.Cancelled> {
                runBlocking { store.sync(RecordingListener { store.cancelSync() }) }
            }
            assertTrue(cancelled.message!!.contains("同步已取消"))
            assertTrue(store.listCases(null).first { it.id == id }.unsynced)

            // Cancelling the coroutine cancels the sync too.
            val started = CountDownLatch(1)
            val release = CountDownLatch(1)
            val job = launch(Dispatchers.IO) {
                store.sync(RecordingListener { started.countDown(); release.await(10, TimeUnit.SECONDS) })
            }
            assertTrue(started.await(10, TimeUnit.SECONDS))
            job.cancelAndJoin()
            release.countDown()
            assertTrue(job.isCancelled)
            // info() waits for the store: the sync's thread has let go of it, without sending anything.
            assertEquals(1uL, store.info().unsynced)

            // A cancel pressed when no sync runs does not stop the next one.
            store.cancelSync()
            val summary = withTimeout(60_000) { store.sync(RecordingListener()) }
            assertEquals(1u, summary.pushed)
            assertEquals(0uL, store.info().unsynced)
        }
    }

    @Test
    fun `a bad token is refused and a dead server is unreachable, with everything kept`() = runBlocking {
        FieldStore.create(dir.resolve("pda").toString(), "w-x").use { store ->
            val id = store.report(rubbishReport())
            val refused = assertThrows<FieldException.TokenInvalid> {
                runBlocking { store.enroll(server.url, "gpd_not-a-token") }
            }
            assertTrue(refused.message!!.contains("401"), refused.message)
            assertTrue(refused.message!!.contains("enroll again"), refused.message)
            val unreachable = assertThrows<FieldException.Unreachable> {
                runBlocking { store.enroll("http://127.0.0.1:9", "gpd_whatever") }
            }
            assertTrue(unreachable.message!!.contains("服务器无法连接"), unreachable.message)
            assertEquals(listOf(id), store.listCases(null).map { it.id })
            assertEquals(null, store.info().server)
        }
    }
}
