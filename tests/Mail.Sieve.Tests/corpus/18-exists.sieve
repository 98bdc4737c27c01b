require "fileinto";
if exists ["x-priority", "message-id"] { fileinto "both"; }
if exists ["x-priority", "x-nonexistent"] { fileinto "never"; }
