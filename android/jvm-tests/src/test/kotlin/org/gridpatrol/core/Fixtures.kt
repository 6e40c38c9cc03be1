package org.gridpatrol.core

import java.awt.Color
import java.awt.GradientPaint
import java.awt.image.BufferedImage
import java.io.ByteArrayOutputStream
import javax.imageio.ImageIO

/** What a camera gives the app: a real JPEG, drawn and encoded here with javax.imageio. */
fun cameraJpeg(width: Int = 1024, height: Int = 768, seed: Int = 0): ByteArray {
    val image = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
    val g = image.createGraphics()
    g.paint = GradientPaint(0f, 0f, Color(120, 160, 200), 0f, height / 2f, Color(200, 210, 220))
    g.fillRect(0, 0, width, height / 2)
    g.paint = GradientPaint(0f, height / 2f, Color(90, 90, 95), 0f, height.toFloat(), Color(60, 60, 60))
    g.fillRect(0, height / 2, width, height / 2)
    g.color = Color(40, 110 + seed % 100, 60)
    g.fillRoundRect(width * 2 / 3, height / 2 - 40, width / 5, height / 3, 16, 16)
    g.color = Color(20, 20, 20)
    g.fillOval(width / 4, height * 2 / 3, width / 5, height / 6)
    g.dispose()
    val out = ByteArrayOutputStream()
    check(ImageIO.write(image, "jpg", out)) { "no JPEG writer in this JVM" }
    return out.toByteArray()
}

/** A report as a worker files it in the demo district (Beijing, Xicheng). */
fun rubbishReport(
    lat: Double = 39.9139,
    lon: Double = 116.3615,
    photos: List<ByteArray> = listOf(),
    category: String = "06010",
) = ReportInput(
    category = category,
    lat = lat,
    lon = lon,
    accuracyM = 5.0,
    address = "府右街 12 号门前",
    description = "路边暴露垃圾约两袋 (two bags of rubbish by the road)",
    photos = photos,
)
