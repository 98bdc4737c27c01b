// Entry point of the embedded host; filled in by the host work.
return 0;
