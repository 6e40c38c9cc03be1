package org.gridpatrol.core

import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/** The store on its own, offline, as the app uses it between syncs. */
class FieldStoreTest {
    @TempDir
    lateinit var dir: Path

    private fun newStore(): FieldStore = FieldStore.create(dir.resolve("store").toString(), "w-test")

    @Test
    fun `a report with a camera JPEG is recorded, listed and shown`() {
        newStore().use { store ->
            val photo = cameraJpeg()
            val id = store.report(rubbishReport(photos = listOf(photo)))

            val list = store.listCases(null)
            assertEquals(listOf(id), list.map { it.id })
            val row = list.single()
            assertEquals(Stage.REPORTED, row.stage)
            assertEquals("06010", row.category.code)
            assertTrue(row.category.name.isNotBlank())
            assertEquals(1u, row.photoCount)
            assertTrue(row.unsynced)
            assertEquals(listOf(id), store.listCases(Stage.REPORTED).map { it.id })
            assertTrue(store.listCases(Stage.CLOSED).isEmpty())

            val case = store.showCase(id)
            assertEquals("w-test", case.reporter)
            assertEquals(Stage.REPORTED, case.stage)
            assertEquals(39.9139, case.lat, 1e-9)
            assertEquals(5.0, case.accuracyM)
            assertEquals("府右街 12 号门前", case.address)
            val stored = case.photos.single()
            assertTrue(stored.width in 1u..1600u && stored.height in 1u..1600u)
            assertEquals(UploadState.PENDING, stored.upload)
            assertEquals("待上传", stored.upload!!.labelZh())
            // The device keeps the shrunk photo and its thumbnail, both JPEGs.
            val full = checkNotNull(store.photo(stored.sha256))
            val thumb = checkNotNull(store.photo(stored.thumbSha256))
            assertArrayEquals(byteArrayOf(0xFF.toByte(), 0xD8.toByte()), full.copyOfRange(0, 2))
            assertTrue(thumb.size < full.size)
            assertNull(store.photo("0".repeat(64)))

            val report = case.timeline.single()
            assertEquals(CaseAction.REPORT, report.action)
            assertEquals(Role.GRID_WORKER, report.role)
            assertEquals("w-test", report.actor)
            assertFalse(report.flagged)
            assertEquals(listOf(stored.sha256), report.attachments)
            assertEquals("已上报", Stage.REPORTED.labelZh())
            assertEquals("reported", Stage.REPORTED.code())
        }
    }

    @Test
    fun `attaching a photo adds evidence to the timeline, once`() {
        newStore().use { store ->
            val id = store.report(rubbishReport())
            val photo = cameraJpeg(seed = 7)
            val added = store.attachPhoto(id, photo, "清运前 before")
            assertEquals("w-test", added.addedBy)
            assertEquals(UploadState.PENDING, added.upload)
            val again = store.attachPhoto(id, photo, null)
            assertEquals(added.sha256, again.sha256)

            val case = store.showCase(id)
            assertEquals(listOf(added.sha256), case.photos.map { it.sha256 })
            assertEquals(listOf(CaseAction.REPORT, CaseAction.ADD_EVIDENCE), case.timeline.map { it.action })
            assertEquals("清运前 before", case.timeline.last().note)
        }
    }

    @Test
    fun `bad input is a typed exception and writes nothing`() {
        newStore().use { store ->
            val unknown = assertThrows<FieldException.InvalidInput> {
                store.report(rubbishReport(category = "99999"))
            }
            assertTrue(unknown.message!!.contains("未知的案件类别"), unknown.message)

            val latitude = assertThrows<FieldException.InvalidInput> { store.report(rubbishReport(lat = 91.0)) }
            assertTrue(latitude.message!!.contains("latitude 91"), latitude.message)

            val corrupt = cameraJpeg().copyOfRange(0, 600)
            assertThrows<FieldException.Photo> { store.report(rubbishReport(photos = listOf(corrupt))) }
            assertThrows<FieldException.Photo> {
                store.report(rubbishReport(photos = listOf("not a photo".toByteArray())))
            }
            assertThrows<FieldException.InvalidInput> {
                store.report(rubbishReport().copy(description = "长".repeat(2001)))
            }
            assertTrue(store.listCases(null).isEmpty(), "a refused report must leave nothing behind")

            val id = store.report(rubbishReport())
            assertThrows<FieldException.Photo> { store.attachPhoto(id, corrupt, null) }
            assertEquals(1, store.showCase(id).timeline.size)
        }
    }

    @Test
    fun `unknown cases, stores and actions have their own exceptions`() {
        newStore().use { store ->
            assertThrows<FieldException.InvalidInput> { store.showCase("not-a-case-id") }
            assertThrows<FieldException.NotFound> { store.showCase("0190b6a4-0000-7000-8000-000000000000") }
            val id = store.report(rubbishReport())
            // Only a case waiting for verification can be verified.
            assertThrows<FieldException.NotAllowed> { store.verify(id, true, null, listOf()) }
            assertTrue(store.tasks().isEmpty())
            val notEnrolled = assertThrows<FieldException.NotEnrolled> {
                runBlocking { store.sync(RecordingListener()) }
            }
            assertTrue(notEnrolled.message!!.contains("enroll"))
        }
        assertThrows<FieldException.NotFound> { FieldStore.open(dir.resolve("nowhere").toString()) }
        assertThrows<FieldException.InvalidInput> { FieldStore.create(dir.resolve("store").toString(), "w-2") }
    }

    @Test
    fun `close releases the store at once, for the next open`() {
        val path = dir.resolve("store").toString()
        val first = FieldStore.create(path, "w-test")
        val id = first.report(rubbishReport())
        assertThrows<FieldException.StoreInUse> { FieldStore.open(path) }
        first.close()
        FieldStore.open(path).use { again ->
            assertEquals(listOf(id), again.listCases(null).map { it.id })
            val info = again.info()
            assertEquals("w-test", info.workerId)
            assertTrue(info.deviceId.startsWith("dev-"))
            assertNull(info.server)
            assertEquals(1uL, info.unsynced)
        }
    }
}
