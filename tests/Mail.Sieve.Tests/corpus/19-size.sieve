require "fileinto";
if size :under 10K { fileinto "small"; }
if size :over 1M { fileinto "huge"; }
