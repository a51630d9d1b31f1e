// Tests import modules from src/ directly; give them the platform Node users get from the
// package's Node entry point (undici, environment, key file).
import '../src/platform/node-platform.js';
