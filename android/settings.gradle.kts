// The Android library: the GridPatrol core for PDA apps, as an AAR (see README.md; build-aar.sh builds it).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "gridpatrol-android"
include(":gridpatrol-android")
