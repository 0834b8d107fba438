#!/usr/bin/env node
// The actlog command. Node 20 cannot run TypeScript by itself, so register
// tsx's loader before importing the sources: there is no build step.
import { register } from 'tsx/esm/api'

register()
await import('./main.ts')
