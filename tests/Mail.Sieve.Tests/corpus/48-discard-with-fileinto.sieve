require "fileinto";
fileinto "Kept";
discard;
