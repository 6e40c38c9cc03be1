package org.gridpatrol.core

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import org.json.JSONArray
import org.json.JSONObject

/**
 * A real `gridpatrol-server demo` on a free loopback port, in a data directory of its own, and the desk
 * side of the API (what a dispatcher or a department does at their desk), over plain HTTP.
 */
class DemoServer private constructor(
    private val process: Process,
    private val data: Path,
    val url: String,
    val tokens: List<Token>,
) : AutoCloseable {
    data class Token(val role: String, val id: String, val scope: String, val department: String?, val token: String)

    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()

    fun token(role: String, id: String? = null): Token =
        tokens.first { it.role == role && (id == null || it.id == id) }

    fun departmentToken(department: String): Token =
        tokens.first { it.role == "department" && it.department == department }

    /** A desk action, `POST /api/v1/cases/{id}/actions`, as the desk's person takes it. */
    fun act(token: Token, caseId: String, action: String, note: String? = null) {
        val body = JSONObject().put("action", action)
        if (note != null) body.put("note", note)
        val response = send(
            HttpRequest.newBuilder(URI.create("$url/api/v1/cases/$caseId/actions"))
                .header("Authorization", "Bearer ${token.token}")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())),
        )
        check(response.statusCode() == 200) { "$action on $caseId: HTTP ${response.statusCode()} ${response.body()}" }
    }

    /** The grid cells a principal may see (for a device: its worker's), as GeoJSON. */
    fun grids(token: Token): String {
        val response = send(
            HttpRequest.newBuilder(URI.create("$url/api/v1/grids")).header("Authorization", "Bearer ${token.token}").GET(),
        )
        check(response.statusCode() == 200) { "grids: HTTP ${response.statusCode()} ${response.body()}" }
        return response.body()
    }

    private fun send(request: HttpRequest.Builder): HttpResponse<String> =
        http.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString())

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor()
        data.toFile().deleteRecursively()
    }

    companion object {
        /** The server binary cargo built; surefire passes its path (see pom.xml). */
        private val binary: String = System.getProperty("gridpatrol.server.bin")
            ?: error("system property gridpatrol.server.bin is not set (run through mvn test)")

        fun start(): DemoServer {
            check(File(binary).canExecute()) { "no server binary at $binary: cargo build -p gridpatrol-server" }
            val data = Files.createTempDirectory("gridpatrol-server")
            val log = data.resolve("server.log").toFile()
            val process = ProcessBuilder(
                binary, "demo", "--data", data.resolve("db").toString(), "--listen", "127.0.0.1:0", "--json",
            ).redirectError(log).start()
            // Never outlive the test JVM, however it ends.
            Runtime.getRuntime().addShutdownHook(Thread { process.destroyForcibly() })
            // stdout: the tokens as JSON, then `listening on ADDR` once the port is open.
            val lines = CopyOnWriteArrayList<String>()
            Thread {
                process.inputStream.bufferedReader().forEachLine { lines.add(it) }
            }.apply { isDaemon = true; start() }
            val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60)
            var address: String? = null
            while (address == null) {
                address = lines.firstOrNull { it.startsWith("listening on ") }?.removePrefix("listening on ")?.trim()
                if (address != null) break
                if (!process.isAlive || System.nanoTime() > deadline) {
                    process.destroyForcibly()
                    error("gridpatrol-server demo did not start:\n${lines.joinToString("\n")}\n${log.readText()}")
                }
                Thread.sleep(50)
            }
            val file = data.resolve("db").resolve("demo-tokens.json")
            val tokens = JSONArray(Files.readString(file)).map { it as JSONObject }.map {
                Token(
                    role = it.getString("role"),
                    id = it.getString("id"),
                    scope = it.getString("scope"),
                    department = it.optString("department").takeIf { d -> d.isNotEmpty() && d != "null" },
                    token = it.getString("token"),
                )
            }
            return DemoServer(process, data, "http://$address", tokens)
        }

        /** A point inside the first cell of a GeoJSON FeatureCollection: the mean of its outline. */
        fun pointInFirstCell(geojson: String): Pair<Double, Double> {
            val feature = JSONObject(geojson).getJSONArray("features").getJSONObject(0)
            val geometry = feature.getJSONObject("geometry")
            var rings = geometry.getJSONArray("coordinates")
            if (geometry.getString("type") == "MultiPolygon") rings = rings.getJSONArray(0)
            val ring = rings.getJSONArray(0)
            val points = (0 until ring.length() - 1).map { ring.getJSONArray(it) }
            val lon = points.sumOf { it.getDouble(0) } / points.size
            val lat = points.sumOf { it.getDouble(1) } / points.size
            return lat to lon
        }
    }
}
